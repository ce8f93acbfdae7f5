/** placeholder: replaced below */
import type { ServerResponse } from 'node:http';
export async function sendFileBody(_res: ServerResponse, _path: string, _start: number, _length: number): Promise<boolean> {
  return false;
}
