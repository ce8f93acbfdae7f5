/**
 * Exec routes (moby api/server/router/container/exec.go): create, start (hijacked: raw
 * with a TTY, multiplexed frames without), resize, json.
 */
import type { ContainerManager } from '../containers/manager.js';
import type { ExecCreateBody, ExecManager } from '../containers/exec.js';
import { hijack, readJson, sendEmpty, sendJson, type Router } from './router.js';
import { frame, parseDetachKeys, pipeAttach } from './streams.js';
import { badParameter } from './errors.js';

export function registerExecRoutes(router: Router, containers: ContainerManager, execs: ExecManager): void {
  router.post('/containers/{id}/exec', async (call) => {
    const body = await readJson<ExecCreateBody>(call);
    if (body.DetachKeys) parseDetachKeys(body.DetachKeys);
    const id = execs.create(call.params.id!, body);
    sendJson(call, 201, { Id: id });
  });

  router.post('/exec/{id}/start', async (call) => {
    const e = execs.find(call.params.id!);
    const body = await readJson<{ Detach?: boolean; Tty?: boolean }>(call, {});
    if (typeof body !== 'object' || body === null) throw badParameter('the exec start body must be a JSON object');
    if (body.Detach) {
      await execs.start(e, false);
      if (call.res) sendEmpty(call, 200);
      else call.upgrade!.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // As dockerd: the connection is hijacked first; a failed start is written into it.
    const tty = e.body.Tty ?? false;
    const client = hijack(call, tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    let stream;
    try {
      stream = await execs.start(e, true);
    } catch (err) {
      const text = Buffer.from(`${(err as Error).message}\r\n`);
      client.output.write(tty ? text : frame(1, text));
      if (client.socket) client.socket.end();
      else client.output.end();
      return;
    }
    await pipeAttach(client, stream!, {
      tty,
      stdin: e.body.AttachStdin ?? false,
      detachKeys: parseDetachKeys(e.body.DetachKeys ?? null),
      onExit: (line) => {
        const m = /^exited (-?\d+) /.exec(line);
        if (m) e.ended(Number(m[1]));
      },
    });
  });

  router.post('/exec/{id}/resize', async (call) => {
    const e = execs.find(call.params.id!);
    await execs.resize(e, Number(call.query.get('h') ?? 0), Number(call.query.get('w') ?? 0));
    sendEmpty(call, 200);
  });

  router.get('/exec/{id}/json', (call) => {
    const e = execs.find(call.params.id!);
    const b = e.body;
    sendJson(call, 200, {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { tty: b.Tty ?? false, entrypoint: b.Cmd![0], arguments: b.Cmd!.slice(1), privileged: false, user: b.User ?? '' },
      OpenStdin: b.AttachStdin ?? false,
      OpenStderr: b.AttachStderr ?? false,
      OpenStdout: b.AttachStdout ?? false,
      CanRemove: false,
      ContainerID: e.container.id,
      DetachKeys: b.DetachKeys ?? '',
      Pid: e.pid,
    });
  });
  void containers;
}
