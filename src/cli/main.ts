// strata command line: parse, call, print. Exit 0 ok, 2 usage/config error, 1 runtime failure.
import { Command, CommanderError } from 'commander';
import { ConfigError, RuntimeFailure } from '../model/errors.js';
import { MODEL_VERSION } from '../model/types.js';
import type { EvalOptions } from './eval.js';
import type { ValidateOptions } from './validate.js';
import { mappingOptions, precisionOptions } from './options.js';
import { registerWorker } from './worker.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('strata')
    .description('Design-space exploration of LLM inference systems on 3D-DRAM-stacked accelerators')
    .version(`0.1.0 (${MODEL_VERSION})`)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // A worker process loads only its command (not the model: its search threads load that), a
  // coordinator only the distributed commands (launched with its workers, it starts sooner without
  // eval, validate, serve and report); the other commands' modules load here.
  if (argv[0] === 'worker') registerWorker(program);
  else if (argv[0] === 'coordinator') (await import('./distributed.js')).registerDistributed(program, (text) => process.stdout.write(text + '\n'));
  else await registerAll(program);

  try {
    await program.parseAsync(argv, { from: 'user' });
    // A command may have set a non-zero exit code (an interrupted search exits 1).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`strata: ${e.message}\n`);
      return 2;
    }
    // A failure from outside the program (a coordinator that does not answer, a file system error)
    // is its message; anything else is a defect, reported with its stack (and always with
    // STRATA_DEBUG=1).
    const err = e as Error & { code?: unknown; syscall?: unknown };
    const external = e instanceof RuntimeFailure || (typeof err.code === 'string' && typeof err.syscall === 'string');
    process.stderr.write(`strata: ${external && !process.env.STRATA_DEBUG ? err.message : (err.stack ?? String(e))}\n`);
    return 1;
  }
}

async function registerAll(program: Command): Promise<void> {
  const [{ renderEval, runEval, writeEvalPlot }, { runValidate }, { registerSearch }, { registerDistributed }, { registerServe }, { registerReport }] = await Promise.all([
    import('./eval.js'),
    import('./validate.js'),
    import('./search.js'),
    import('./distributed.js'),
    import('./serve.js'),
    import('./report.js'),
  ]);
  const evalCmd = program
    .command('eval')
    .description('evaluate one design point: step times, breakdown per operator, memory, power, temperatures')
    .requiredOption('--system <preset|file>', 'system preset name or JSON file')
    .requiredOption('--model <preset|config.json>', 'model preset name or Hugging Face config.json')
    .option('--batch <n>', 'sequences in the batch', '1')
    .option('--input <tokens>', 'prompt length', '1024')
    .option('--output <tokens>', 'generated tokens (decode is averaged over them)', '256')
    .option('--chunk <tokens>', 'prefill token budget per step and DP replica (prompts in steps; over-budget prompts in chunks); default: the whole batch in one step');
  mappingOptions(precisionOptions(evalCmd))
    .option('--json', 'print one JSON object')
    .option('--plot <out.svg>', 'also write the breakdown (per-operator time by bound, prefill and decode) as an SVG file')
    .action((o: EvalOptions) => {
      const r = runEval(o);
      if (o.plot !== undefined) writeEvalPlot(o.plot, r);
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : renderEval(r) + '\n');
    });

  registerServe(program); // `strata serve` (src/cli/serve.ts)

  program
    .command('validate')
    .description('compare the model with measured data and print the error per row and the MAPE')
    .option('--data <csv...>', 'measured-data CSV files (default: every supported file in data/validation)')
    .option('--json', 'print JSON')
    .action((o: ValidateOptions) => {
      process.stdout.write(runValidate(o) + '\n');
    });

  registerSearch(program, (text) => process.stdout.write(text + '\n'));
  registerDistributed(program, (text) => process.stdout.write(text + '\n')); // coordinator, worker, status --coordinator (src/cli/distributed.ts)
  registerReport(program, (text) => process.stdout.write(text + '\n'));
}
