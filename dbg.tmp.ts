import { KafkaLog } from './src/log/kafka/kafka-log.ts';
import { TOPICS } from './src/log/log.ts';
const log = new KafkaLog({ brokers: ['127.0.0.1:19092'], onError: (e, w) => console.log('ERR', w, (e as Error).message) });
for (const [t, g] of [[TOPICS.rawTrades, 'process'], [TOPICS.trades, 'store'], [TOPICS.quarantine, 'store'], [TOPICS.bars, 'store'], [TOPICS.raw, 'store']] as const) {
  console.log(t, g, await log.lag(t, g));
}
const admin = (log as any);
await log.close();
