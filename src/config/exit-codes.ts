/**
 * Exit codes a worker uses to tell the primary why it stopped. EX_CONFIG (78, from sysexits):
 * the worker cannot bind the configured address, so forking another would fail the same way.
 */
export const EXIT_CANNOT_LISTEN = 78;
