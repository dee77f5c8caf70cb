import { bearerAuthorizer, isOpenUrl } from './bearer-auth';

describe('bearerAuthorizer', () => {
  const authorized = bearerAuthorizer('s3cret');

  it('accepts the token under any case of the scheme name', () => {
    expect(authorized('Bearer s3cret')).toBe(true);
    expect(authorized('bearer s3cret')).toBe(true);
  });

  it('refuses a missing header, another scheme and another token', () => {
    expect(authorized(undefined)).toBe(false);
    expect(authorized('Basic s3cret')).toBe(false);
    expect(authorized('Bearer s3cret2')).toBe(false);
    expect(authorized('Bearer ')).toBe(false);
  });
});

describe('isOpenUrl', () => {
  it('opens the health check and the OpenAPI document', () => {
    expect(isOpenUrl('/_/health')).toBe(true);
    expect(isOpenUrl('/_/openapi.json')).toBe(true);
  });

  it('keeps every other path, and other spellings of the open ones, behind the token', () => {
    for (const url of [
      '/_/stats',
      '/_/digest',
      '/_/metrics',
      '/_/keys',
      '/health',
      '/_/health/',
      '/_/health?x=1',
      '/_/openapi.json?',
      '//_/health',
      '/_/%68ealth',
      '/_/openapi.json/x',
      '/_%2Fhealth',
    ])
      expect(isOpenUrl(url)).toBe(false);
  });
});
