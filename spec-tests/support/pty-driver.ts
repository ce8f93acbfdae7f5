/**
 * A terminal for a CLI under test, opened by python3's pty module (no native module for
 * Node): the command runs on the slave as its controlling terminal, the driver holds the
 * master and plays a script of steps against it:
 *
 *   { wait: RE }                     read until RE matches the output after the last match
 *   { send: TEXT }                   type TEXT
 *   { resize: [ROWS, COLS] }         TIOCSWINSZ on the master: the kernel sends SIGWINCH
 *                                    to the terminal's foreground process group
 *   { sendUntil: TEXT, wait: RE }    type TEXT every 300 ms until RE matches (at most 60 times)
 *
 * The terminal starts at `rows` x `cols`. Resolves with the command's exit code (null when
 * it was killed at the deadline) and everything it wrote.
 */
import { spawn } from 'node:child_process';

export type PtyStep = { wait: string } | { send: string } | { resize: [number, number] } | { sendUntil: string; wait: string };

const DRIVER = String.raw`
import fcntl, json, os, pty, re, select, struct, sys, termios, time
steps = json.loads(sys.argv[1]); rows, cols = int(sys.argv[2]), int(sys.argv[3]); deadline = time.time() + float(sys.argv[4])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp('sh', ['sh', '-c', sys.argv[5]])
out = b''; mark = 0; eof = False
def pump(t):
    global out, eof
    if eof: return
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try: d = os.read(fd, 65536)
        except OSError: d = b''
        if not d: eof = True
        out += d
def wait_for(rx, resend=None):
    global mark
    tries = 0; last = 0
    while time.time() < deadline:
        m = re.compile(rx.encode()).search(out, mark)
        if m: mark = m.end(); return True
        if eof: return False
        if resend is not None and time.time() - last > 0.3 and tries < 60:
            os.write(fd, resend.encode()); tries += 1; last = time.time()
        pump(0.1)
    return False
failed = None
for i, st in enumerate(steps):
    if 'sendUntil' in st: ok = wait_for(st['wait'], st['sendUntil'])
    elif 'wait' in st: ok = wait_for(st['wait'])
    elif 'send' in st: os.write(fd, st['send'].encode()); ok = True
    else: fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', st['resize'][0], st['resize'][1], 0, 0)); ok = True
    if not ok: failed = i; break
while not eof and time.time() < deadline: pump(0.2)
code = None
for _ in range(100):
    p, status = os.waitpid(pid, os.WNOHANG)
    if p: code = os.waitstatus_to_exitcode(status); break
    time.sleep(0.05)
if code is None: os.kill(pid, 9); os.waitpid(pid, 0)
print(json.dumps({'code': code, 'failedStep': failed, 'out': out.decode('utf-8', 'replace')}))
`;

export interface PtyResult {
  code: number | null;
  /** the index of the step that did not happen (its text never came), else null */
  failedStep: number | null;
  out: string;
}

export function underPtyScript(command: string, steps: PtyStep[], opts: { rows?: number; cols?: number; timeoutMs?: number } = {}): Promise<PtyResult> {
  const timeout = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, JSON.stringify(steps), String(opts.rows ?? 24), String(opts.cols ?? 80), String(timeout / 1000), command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout + 15_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(stdout) as PtyResult);
      } catch {
        reject(new Error(`pty driver: ${stderr || stdout}`));
      }
    });
  });
}
