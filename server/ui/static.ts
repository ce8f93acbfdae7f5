/**
 * The UI's only script and stylesheet, served from /ui/static/ (the Content-Security-
 * Policy allows scripts and styles from 'self' only: no inline code anywhere). The
 * pages work without the script; it adds copy buttons and delete confirmations.
 */
import type { Request, Response } from 'express';

export const UI_JS = `'use strict';
document.querySelectorAll('[data-copy]').forEach(function (button) {
  button.addEventListener('click', function () {
    var text = document.getElementById(button.getAttribute('data-copy')).textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = 'Copy'; }, 1500);
    }, function () { button.textContent = 'Select and copy'; });
  });
});
document.querySelectorAll('form[data-confirm]').forEach(function (form) {
  form.addEventListener('submit', function (event) {
    if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
  });
});
document.querySelectorAll('[data-filter]').forEach(function (input) {
  var rows = document.querySelectorAll(input.getAttribute('data-filter'));
  input.addEventListener('input', function () {
    var q = input.value.toLowerCase();
    rows.forEach(function (row) { row.hidden = q !== '' && row.textContent.toLowerCase().indexOf(q) < 0; });
  });
});
`;

export const UI_CSS = `:root { --fg: #1d2330; --muted: #5d6677; --line: #dde2ea; --accent: #1f6feb; --bg: #f6f8fb; --danger: #c62828; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: .7rem 1.5rem; background: #0d1b2a; color: #fff; }
header a { color: #fff; text-decoration: none; }
header .brand { font-weight: 700; font-size: 1.15rem; letter-spacing: .02em; }
header nav { display: flex; gap: 1rem; flex: 1; }
header .who { display: flex; gap: .6rem; align-items: center; color: #c9d4e3; }
header form { margin: 0; }
main { max-width: 72rem; margin: 1.5rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 .6rem; }
a { color: var(--accent); }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
th, td { text-align: left; padding: .45rem .7rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef2f7; font-weight: 600; font-size: .85rem; color: var(--muted); }
tr:last-child td { border-bottom: none; }
code, pre, .digest { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
pre { background: #fff; border: 1px solid var(--line); padding: .8rem; overflow: auto; border-radius: 6px; max-height: 28rem; }
.muted { color: var(--muted); }
.pull { display: flex; gap: .5rem; align-items: center; background: #0d1b2a; color: #e6edf3; padding: .6rem .8rem; border-radius: 6px; }
.pull code { flex: 1; color: #e6edf3; }
button, .button { font: inherit; padding: .35rem .8rem; border-radius: 5px; border: 1px solid var(--line); background: #fff; cursor: pointer; color: var(--fg); text-decoration: none; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { color: var(--danger); border-color: #e8b4b4; }
.toolbar { display: flex; gap: .6rem; margin-bottom: 1rem; align-items: center; }
.toolbar input[type=search] { flex: 1; padding: .4rem .6rem; border: 1px solid var(--line); border-radius: 5px; font: inherit; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.2rem; }
.card label { display: block; margin: .6rem 0 .2rem; font-weight: 600; }
.card input[type=text], .card input[type=password] { width: 100%; max-width: 24rem; padding: .4rem .6rem; border: 1px solid var(--line); border-radius: 5px; font: inherit; }
.notice { padding: .6rem .9rem; border-radius: 6px; background: #e8f5e9; border: 1px solid #b7dfb9; margin-bottom: 1rem; }
.error { padding: .6rem .9rem; border-radius: 6px; background: #fdecea; border: 1px solid #f5c2c0; margin-bottom: 1rem; }
.pill { display: inline-block; padding: 0 .45rem; border-radius: 999px; background: #eef2f7; font-size: .8rem; margin-right: .25rem; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.kv dt { font-weight: 600; color: var(--muted); }
dl.kv dd { margin: 0; word-break: break-all; }
.pager { display: flex; gap: 1rem; margin-top: .8rem; }
form.inline { display: inline; }
`;

export function serveStatic(req: Request, res: Response): boolean {
  const file = req.path.replace(/^\/static\//, '');
  const body = file === 'ui.js' ? UI_JS : file === 'ui.css' ? UI_CSS : undefined;
  if (body === undefined) return false;
  res.setHeader('Content-Type', file.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
  res.setHeader('Cache-Control', 'public, max-age=300');
  res.send(body);
  return true;
}
