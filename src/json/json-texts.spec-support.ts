/**
 * Seeded generators of JSON texts for the scanner's differential specs: valid texts with every
 * kind of value, escape and whitespace, and mutations of them that are mostly invalid. Test
 * support only: excluded from the build.
 */
import { randomString } from '../store/seeded-random.spec-support';

const WHITESPACE = [' ', '\t', '\n', '\r'];
const STRING_PIECES = [
  'a',
  'Z',
  ' ',
  '0',
  'é',
  '€',
  '😀',
  '\u2028',
  '\u007f',
  '\ufeff',
  "'",
  '/',
  '\\"',
  '\\\\',
  '\\/',
  '\\b',
  '\\f',
  '\\n',
  '\\r',
  '\\t',
  '\\u0000',
  '\\u001F',
  '\\u00e9',
  '\\uD83D\\uDE00',
  '\\ud800',
  '\\uDFFF',
  '\\uABcd',
];
// What mutations insert: structure, number and literal characters, and characters JSON
// refuses outside strings (or inside them, unescaped).
const HOSTILE_PIECES = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '/',
  '/*',
  '//',
  ' ',
  '\t',
  '\n',
  '-',
  '+',
  '.',
  '0',
  '7',
  'e',
  'E',
  't',
  'n',
  'x',
  'u',
  'NaN',
  'Infinity',
  "'",
  '\u0000',
  '\u001f',
  '\u00a0',
  '\ufeff',
  '\u2028',
];

type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function digits(random: Random, min: number, max: number): string {
  let text = '';
  const count = min + Math.floor(random() * (max - min + 1));
  for (let i = 0; i < count; i++) text += pick(random, [...'0123456789']);
  return text;
}

/** Mostly nothing, sometimes a run of JSON whitespace. */
export function randomWhitespace(random: Random): string {
  if (random() < 0.6) return '';
  let text = '';
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count; i++) text += pick(random, WHITESPACE);
  return text;
}

function randomNumber(random: Random): string {
  let text = random() < 0.3 ? '-' : '';
  text +=
    random() < 0.3
      ? '0'
      : pick(random, [...'123456789']) + digits(random, 0, 25);
  if (random() < 0.3) text += '.' + digits(random, 1, 5);
  if (random() < 0.3)
    text +=
      pick(random, ['e', 'E']) +
      pick(random, ['', '+', '-']) +
      digits(random, 1, 4);
  return text;
}

/** A string token (quotes included) of plain characters and escapes. */
export function randomStringText(random: Random): string {
  return '"' + randomString(random, STRING_PIECES, 8) + '"';
}

/** One valid JSON text, nested at most `depth` containers deep, with whitespace inside. */
export function randomJsonValue(random: Random, depth = 4): string {
  const kind =
    depth > 0 && random() < 0.5
      ? 5 + Math.floor(random() * 2)
      : Math.floor(random() * 5);
  switch (kind) {
    case 0:
      return randomNumber(random);
    case 1:
      return randomStringText(random);
    case 2:
      return pick(random, ['true', 'false', 'null']);
    case 3:
      return randomNumber(random);
    case 4:
      return randomStringText(random);
    case 5: {
      const elements: string[] = [];
      const count = Math.floor(random() * 4);
      for (let i = 0; i < count; i++)
        elements.push(
          randomWhitespace(random) +
            randomJsonValue(random, depth - 1) +
            randomWhitespace(random),
        );
      return (
        '[' +
        (count === 0 ? randomWhitespace(random) : elements.join(',')) +
        ']'
      );
    }
    default: {
      const members: string[] = [];
      const count = Math.floor(random() * 4);
      for (let i = 0; i < count; i++)
        members.push(
          randomWhitespace(random) +
            randomStringText(random) +
            randomWhitespace(random) +
            ':' +
            randomWhitespace(random) +
            randomJsonValue(random, depth - 1) +
            randomWhitespace(random),
        );
      return (
        '{' + (count === 0 ? randomWhitespace(random) : members.join(',')) + '}'
      );
    }
  }
}

/** `text` with one to three random edits: deletions, insertions, replacements, a cut. */
export function mutate(random: Random, text: string): string {
  let mutated = text;
  const edits = 1 + Math.floor(random() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (mutated.length + 1));
    switch (Math.floor(random() * 4)) {
      case 0:
        mutated = mutated.slice(0, at) + mutated.slice(at + 1);
        break;
      case 1:
        mutated =
          mutated.slice(0, at) +
          pick(random, HOSTILE_PIECES) +
          mutated.slice(at);
        break;
      case 2:
        mutated =
          mutated.slice(0, at) +
          pick(random, HOSTILE_PIECES) +
          mutated.slice(at + 1);
        break;
      default:
        mutated = mutated.slice(0, at);
    }
  }
  return mutated;
}

/** Whether `JSON.parse` accepts `text`: the reference the scanner is held to. */
export function jsonParseAccepts(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** `text` without the JSON whitespace around it. */
export function trimJsonWhitespace(text: string): string {
  return text.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
}
