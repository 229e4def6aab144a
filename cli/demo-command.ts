import { Command } from 'commander';
import { Logger } from '../lib/log.js';
import { DEMO_STREAM, startDemoFeeder } from './demo-feeder.js';
import { serverOptionsFrom, withServerOptions, type ServerCommandOptions } from './server-command.js';
import { stopOnSignals } from './signals.js';

export function demoCommand(): Command {
  return withServerOptions(new Command('demo').description('run the server with a simulated device feeding it (what `npm start` runs)')).action(async (options: ServerCommandOptions) => {
    const log = new Logger(options.logLevel, { component: 'demo' });
    const { startServer } = await import('../ingest-server/server.js');
    const server = await startServer(serverOptionsFrom(options, log));
    const stopFeeder = await startDemoFeeder(server.url, log);
    stopOnSignals(async () => {
      stopFeeder();
      await server.close();
    }, log);
    process.stdout.write(
      [
        `Rivulet listening on ${server.url}`,
        `A simulated meter puts a reading every second into the stream '${DEMO_STREAM}'. Read them with:`,
        `  export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_DEFAULT_REGION=us-east-1`,
        `  aws --endpoint-url ${server.url} kinesis get-shard-iterator --stream-name ${DEMO_STREAM} --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON`,
        `  aws --endpoint-url ${server.url} kinesis get-records --shard-iterator <ShardIterator from above>`,
        'Press Ctrl+C to stop.',
        '',
      ].join('\n'),
    );
  });
}
