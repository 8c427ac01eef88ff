// `strata report` and the --plot files of eval/serve: static HTML/SVG rendered from results.
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../model/errors.js';
import { openReadDb } from '../store/index.js';
import { loadReportData, type ReportData } from './data.js';
import { renderReportHtml } from './html.js';

export { loadReportData, type ReportData } from './data.js';
export { renderReportHtml } from './html.js';
export { evalPlotSvg, servePlotSvg } from './plots.js';

/** Checks that `file` can be written (its directory exists and it is not a directory). */
export function checkOutPath(flag: string, file: string): string {
  if (!file) throw new ConfigError(flag, file, 'an output file path');
  const abs = resolve(file);
  const dir = dirname(abs);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(flag, file, `a file in an existing directory (${dir} does not exist)`);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new ConfigError(flag, file, 'a file path, not a directory');
  return abs;
}

/** Writes the whole text to a temporary file beside `file`, then renames it: never a half-written file. */
export function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Reads a run from a results database and renders its report (nothing is written). */
export function buildReport(dbFile: string, opts: { runId?: number; generatedAt?: string } = {}): { html: string; data: ReportData } {
  const db = openReadDb(dbFile);
  try {
    const data = loadReportData(db, dbFile, opts.runId);
    return { html: renderReportHtml(data, opts.generatedAt), data };
  } finally {
    db.close();
  }
}
