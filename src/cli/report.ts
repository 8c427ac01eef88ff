// `strata report --db <file> --out report.html`: one self-contained HTML file with SVG plots.
import type { Command } from 'commander';
import { buildReport, checkOutPath, writeAtomically } from '../report/index.js';
import { posInt } from './options.js';

export interface ReportFlags {
  db: string;
  out: string;
  run?: string;
}

/** Renders the report of a run and writes it; returns a one-line description. Nothing is written on error. */
export function runReport(f: ReportFlags): string {
  const out = checkOutPath('--out', f.out);
  const runId = f.run !== undefined ? posInt('--run', f.run) : undefined;
  const { html, data } = buildReport(f.db, { runId });
  writeAtomically(out, html);
  const kb = (Buffer.byteLength(html) / 1024).toFixed(0);
  return `wrote ${f.out} (${kb} KiB): run ${data.summary.run.id} of ${data.spec.spaceName}, ${data.designs.length} kept designs, front ${data.front.length}; open it in a browser (file://${out})`;
}

export function registerReport(program: Command, onResult: (text: string) => void): void {
  program
    .command('report')
    .description('write a self-contained HTML report of a run: summary, coverage, Pareto front, best designs, breakdowns, temperatures')
    .requiredOption('--db <file>', 'results database')
    .requiredOption('--out <report.html>', 'HTML file to write')
    .option('--run <id>', 'run id (default: the latest run)')
    .action((f: ReportFlags) => {
      onResult(runReport(f));
    });
}
