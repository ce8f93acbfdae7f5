import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile, TemplateError } from './go-template.js';

const data = {
  Name: '/web',
  State: { ExitCode: 3, Running: false, Status: 'exited' },
  Config: { Cmd: ['sh', '-c', 'exit 3'], Labels: { a: '1', 'x.y': 'z' }, Env: null },
  Count: 0,
};

test('field paths print as Go prints them', () => {
  assert.equal(compile('{{.State.ExitCode}}').execute(data), '3');
  assert.equal(compile('{{.Name}}').execute(data), '/web');
  assert.equal(compile('{{.State.Running}}').execute(data), 'false');
  assert.equal(compile('{{.Config.Cmd}}').execute(data), '[sh -c exit 3]');
  assert.equal(compile('{{.Config.Labels}}').execute(data), 'map[a:1 x.y:z]');
  assert.equal(compile('{{.Count}}').execute(data), '0');
  assert.equal(compile('{{.Missing}}').execute(data), '<no value>');
  assert.equal(compile('{{.Config.Env}}').execute(data), '<no value>');
});

test('json, join, index, upper, lower, pipes, and literal text with \\t', () => {
  assert.equal(compile('{{json .Config.Cmd}}').execute(data), '["sh","-c","exit 3"]');
  assert.equal(compile('{{json .State}}').execute(data), '{"ExitCode":3,"Running":false,"Status":"exited"}');
  assert.equal(compile('{{.State | json}}').execute(data), '{"ExitCode":3,"Running":false,"Status":"exited"}');
  assert.equal(compile('{{join .Config.Cmd ","}}').execute(data), 'sh,-c,exit 3');
  assert.equal(compile('{{index .Config.Labels "x.y"}}').execute(data), 'z');
  assert.equal(compile('{{upper .State.Status}}').execute(data), 'EXITED');
  assert.equal(compile('{{.Name}}\\t{{.State.ExitCode}}').execute(data), '/web\t3');
  assert.equal(compile('code={{ .State.ExitCode }}!').execute(data), 'code=3!');
});

test('what the subset does not do is refused with a message, never guessed', () => {
  assert.throws(() => compile('{{range .Config.Cmd}}{{.}}{{end}}').execute(data), TemplateError);
  assert.throws(() => compile('{{if .State.Running}}up{{end}}').execute(data), /not supported/);
  assert.throws(() => compile('{{nosuch .Name}}').execute(data), /function "nosuch" not defined/);
  assert.throws(() => compile('{{.Name').execute(data), /unclosed action/);
  assert.throws(() => compile('{{.Name.First}}').execute(data), /can't evaluate field First/);
});
