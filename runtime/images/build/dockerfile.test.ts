import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile, DockerfileError } from './dockerfile.js';
import { processWord, processWords, SubstitutionError } from './shell-words.js';
import { isIgnored, parseDockerignore } from './dockerignore.js';

test('instructions, continuations, comments, flags and the exec form', () => {
  const df = parseDockerfile(
    [
      '# syntax=docker/dockerfile:1',
      '# a comment',
      'ARG BASE=scratch',
      'from --platform=linux/amd64 ${BASE} AS build',
      'RUN echo a \\',
      '  # a comment inside the continuation',
      '',
      '    b',
      'CMD ["/hello", "x"]',
      'COPY --chown=app:app --from=build a b /dst/',
      'ENTRYPOINT echo "hello $name"',
      'ONBUILD RUN echo trig',
    ].join('\n'),
  );
  const [arg, from, run, cmd, copy, ep, onbuild] = df.instructions;
  assert.equal(arg!.keyword, 'ARG');
  assert.equal(from!.keyword, 'FROM');
  assert.deepEqual(from!.flags, { platform: 'linux/amd64' });
  assert.equal(from!.args, '${BASE} AS build');
  assert.equal(from!.line, 4);
  assert.equal(run!.args, 'echo a     b');
  assert.equal(run!.line, 5);
  assert.equal(run!.json, undefined);
  assert.deepEqual(cmd!.json, ['/hello', 'x']);
  assert.equal(cmd!.line, 9);
  assert.deepEqual(copy!.flags, { chown: 'app:app', from: 'build' });
  assert.equal(copy!.args, 'a b /dst/');
  assert.equal(ep!.json, undefined);
  assert.equal(onbuild!.trigger!.keyword, 'RUN');
  assert.equal(onbuild!.trigger!.args, 'echo trig');
});

test('the escape directive, and errors that name the line', () => {
  const df = parseDockerfile('# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /w\n');
  assert.equal(df.escape, '`');
  assert.equal(df.instructions[1]!.args, 'dir c:\\   /w');
  assert.throws(() => parseDockerfile('FROM scratch\n\nFOO bar\n'), (e: Error) => e instanceof DockerfileError && e.message === 'Dockerfile:3: unknown instruction: FOO');
  assert.throws(() => parseDockerfile('FROM scratch\nCOPY onlyone\n'), /Dockerfile:2: COPY requires at least two arguments/);
  assert.throws(() => parseDockerfile('FROM scratch\nCOPY --bogus=1 a b\n'), /Dockerfile:2: unknown flag: --bogus/);
  assert.throws(() => parseDockerfile('FROM scratch\nSHELL /bin/bash -c\n'), /Dockerfile:2: SHELL requires the arguments to be in JSON form/);
  assert.throws(() => parseDockerfile('FROM scratch\nONBUILD ONBUILD RUN x\n'), /Dockerfile:2: Chaining ONBUILD/);
  assert.throws(() => parseDockerfile('# only a comment\n'), /cannot be empty/);
});

test('substitution: $VAR, ${VAR}, :- and :+, quotes and escapes', () => {
  const vars = new Map([
    ['name', 'world'],
    ['empty', ''],
  ]);
  assert.equal(processWord('hello $name', vars), 'hello world');
  assert.equal(processWord('${name}s', vars), 'worlds');
  assert.equal(processWord('${missing:-dflt}', vars), 'dflt');
  assert.equal(processWord('${empty:-dflt}', vars), 'dflt');
  assert.equal(processWord('${empty-dflt}', vars), '');
  assert.equal(processWord('${name:+set}', vars), 'set');
  assert.equal(processWord('${missing:+set}', vars), '');
  assert.equal(processWord("'$name'", vars), '$name');
  assert.equal(processWord('"a $name"', vars), 'a world');
  assert.equal(processWord('\\$name', vars), '$name');
  assert.equal(processWord('$missing', vars), '');
  assert.equal(processWord('${name:-${missing:-x}}', vars), 'world');
  assert.deepEqual(processWords('a "b c" ${name}', vars), ['a', 'b c', 'world']);
  assert.throws(() => processWord('${name', vars), SubstitutionError);
  assert.throws(() => processWord('"open', vars), SubstitutionError);
});

test('.dockerignore: Docker pattern rules, exceptions, later rules win', () => {
  const rules = parseDockerignore(['# comment', '*/temp*', '*/*/temp*', 'temp?', '*.md', '!README.md', '/secret', 'build/**/*.o', 'logs', '!logs/keep.log', ''].join('\n'));
  const ignored = (p: string) => isIgnored(p, rules);
  assert.ok(ignored('a/temporary.txt'));
  assert.ok(ignored('a/b/temp'));
  assert.ok(!ignored('a/b/c/temp'));
  assert.ok(ignored('temp1'));
  assert.ok(!ignored('temp12'));
  assert.ok(ignored('notes.md'));
  assert.ok(!ignored('README.md'));
  assert.ok(ignored('secret'));
  assert.ok(ignored('secret/inside'), 'a parent that matches excludes its contents');
  assert.ok(ignored('build/x.o'));
  assert.ok(ignored('build/a/b/x.o'));
  assert.ok(!ignored('build/x.c'));
  assert.ok(ignored('logs/a.log'));
  assert.ok(!ignored('logs/keep.log'));
  assert.ok(!ignored('app.py'));
  assert.ok(isIgnored('x', parseDockerignore('!x\nx')), 'the later rule wins');
});
