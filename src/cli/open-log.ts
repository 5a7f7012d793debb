/** The log the config asks for: in-process by default, Apache Kafka with `log.kind: kafka`. */
import { readFileSync } from 'node:fs';
import type { Config } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import type { KafkaLog } from '../log/kafka/kafka-log.ts';
import type { Log } from '../log/log.ts';
import { MemoryLog } from '../log/memory/memory-log.ts';

/** The Kafka client and codecs are loaded only for `log.kind: kafka` (a large part of startup). */
export async function openLog(cfg: Config, env: NodeJS.ProcessEnv = process.env): Promise<Log> {
  const c = cfg.log;
  if (c.kind === 'memory') return new MemoryLog({ capacity: cfg.live.queueRecords });
  const [{ avroCodec }, { jsonCodec }, { KafkaLog }] = await Promise.all([
    import('../log/kafka/avro-codec.ts'),
    import('../log/kafka/codec.ts'),
    import('../log/kafka/kafka-log.ts'),
  ]);
  let sasl: ConstructorParameters<typeof KafkaLog>[0]['sasl'];
  if (c.sasl) {
    const password = env.TICKLINE_KAFKA_PASSWORD;
    if (!password) {
      throw new ConfigError('TICKLINE_KAFKA_PASSWORD', 'the SASL password (log.sasl is set)');
    }
    sasl = { mechanism: c.sasl.mechanism, username: c.sasl.username, password };
  }
  let tls: ConstructorParameters<typeof KafkaLog>[0]['tls'];
  if (c.ssl === true) tls = {};
  else if (c.ssl !== false) {
    let ca: Buffer | undefined;
    if (c.ssl.caFile) {
      try {
        ca = readFileSync(c.ssl.caFile);
      } catch (err) {
        throw new ConfigError(
          'log.ssl.caFile',
          'a readable PEM file',
          `${c.ssl.caFile}: ${(err as Error).message}`,
        );
      }
    }
    tls = { rejectUnauthorized: c.ssl.rejectUnauthorized, ...(ca ? { ca } : {}) };
  }
  return new KafkaLog({
    brokers: c.brokers,
    clientId: c.clientId,
    namespace: c.namespace,
    partitions: c.partitions,
    replication: c.replication,
    compression: c.compression,
    sessionTimeoutMs: c.sessionTimeoutMs,
    heartbeatIntervalMs: c.heartbeatIntervalMs,
    exactlyOnce: c.exactlyOnce,
    codec: c.encoding === 'avro' ? avroCodec() : jsonCodec,
    ...(tls ? { tls } : {}),
    ...(sasl ? { sasl } : {}),
  });
}
