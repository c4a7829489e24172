// ali-ons (the pure-JavaScript RocketMQ remoting client, unmodified) against a real `courier dev`:
// a producer sends messages with tags, keys and user properties; a clustering group of two
// consumers must receive every message exactly once, a broadcasting group of two must receive
// every message in each consumer, a retried message must come back once through %RETRY%group, a
// delayed one through the scheduler, a tag subscription must see only its tag, an SQL92 selector
// only the messages whose properties it selects, and a server-side
// offset reset must rewind a running group. Bodies, tags, keys and properties are compared field
// by field with what was sent.
'use strict';

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { after, before, describe, it } = require('node:test');
const { Consumer, Message, Producer } = require('ali-ons');
const ConsumeFromWhere = require('ali-ons/lib/consumer/consume_from_where');
const { CourierDev, sleep } = require('../support/courier');

// ali-ons insists on an HTTP client for the Aliyun address server; with `nameSrv` set it never
// calls it, so a stub that fails loudly is enough.
const httpclient = {
  async request(url) {
    throw new Error(`unexpected address-server lookup of ${url}`);
  },
};

// Client-side errors are collected rather than printed so a test can assert there were none.
function quietLogger(sink) {
  return {
    info() {},
    debug() {},
    warn() {},
    error(...args) {
      sink.push(args.map(String).join(' '));
    },
  };
}

const MESSAGES = 40;
// One body above ali-ons's 4 KiB threshold so the compressed-body flag round-trips too.
const BIG_INDEX = 7;

function bodyOf(i) {
  if (i === BIG_INDEX) return Buffer.from(`big-${i}-`.repeat(1200));
  return Buffer.from(`hello courier #${i} ✓`);
}

function tagOf(i) {
  return i % 2 === 0 ? 'TagA' : 'TagB';
}

async function waitFor(what, predicate, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('ali-ons against courier dev', () => {
  let dev;
  let producer;
  const errors = [];
  const consumers = [];

  before(async () => {
    dev = await CourierDev.start();
    producer = new Producer({
      httpclient,
      nameSrv: dev.namesrvAddr,
      producerGroup: 'ali_ons_producer',
      instanceName: 'ali-ons-producer',
      logger: quietLogger(errors),
    });
    await producer.ready();
  });

  after(async () => {
    for (const c of consumers) await c.close().catch(() => {});
    if (producer) await producer.close().catch(() => {});
    // Every ali-ons client also starts a shared inner producer (for sending back failed
    // messages); it keeps the connection and its timers alive until closed.
    if (Producer.defaultProducer) await Producer.defaultProducer.close().catch(() => {});
    if (dev) {
      const exit = await dev.stop();
      // A graceful shutdown is part of the contract; anything else hides broker trouble.
      assert.equal(exit.signal, null, `courier dev was killed (${exit.signal}):\n${dev.output}`);
      assert.equal(exit.code, 0, `courier dev exited ${exit.code}:\n${dev.output}`);
    }
  });

  // ali-ons has no TBW102 fallback, so topics are created on the broker first (as its users do)
  // and the test waits until the name server serves the route.
  async function createTopic(topic) {
    await producer._mqClient.createTopic(dev.brokerAddr, 'TBW102', {
      topicName: topic,
      readQueueNums: 4,
      writeQueueNums: 4,
      perm: 6,
      topicFilterType: 'SINGLE_TAG',
      topicSysFlag: 0,
      order: false,
    }, 5000);
    const deadline = Date.now() + 30000;
    for (;;) {
      try {
        const route = await producer._mqClient.getTopicRouteInfoFromNameServer(topic, 3000);
        if (route && route.queueDatas.length > 0) return route;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      await sleep(100);
    }
  }

  async function sendAll(topic) {
    const sent = [];
    for (let i = 0; i < MESSAGES; i++) {
      const msg = new Message(topic, tagOf(i), bodyOf(i));
      msg.keys = [ `key-${i}`, `alt-${i}` ];
      msg.properties.seq = String(i);
      msg.properties.origin = 'ali-ons';
      const result = await producer.send(msg);
      assert.equal(result.sendStatus, 'SEND_OK', `send #${i}: ${JSON.stringify(result)}`);
      assert.ok(result.msgId, `send #${i} returned no msgId`);
      sent.push({ i, tag: tagOf(i), body: bodyOf(i), msgId: result.msgId });
    }
    return sent;
  }

  function startConsumer(group, instanceName, topic, subExpression, sink, extra = {}) {
    const consumer = new Consumer(Object.assign({
      httpclient,
      nameSrv: dev.namesrvAddr,
      consumerGroup: group,
      instanceName,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      // Quick convergence: ali-ons ignores NOTIFY_CONSUMER_IDS_CHANGED and only rebalances on
      // its own timer.
      rebalanceInterval: 500,
      logger: quietLogger(errors),
    }, extra));
    consumer.on('error', err => errors.push(`${instanceName}: ${err && err.stack || err}`));
    consumer.subscribe(topic, subExpression, async msg => {
      sink.push(msg);
    });
    consumers.push(consumer);
    return consumer;
  }

  function ownedQueues(consumer, topic) {
    let n = 0;
    for (const { messageQueue } of consumer.processQueueTable.values()) {
      if (messageQueue.topic === topic) n++;
    }
    return n;
  }

  function checkMessage(msg, topic) {
    const i = Number(msg.properties.seq);
    assert.ok(Number.isInteger(i) && i >= 0 && i < MESSAGES, `unexpected seq ${msg.properties.seq}`);
    assert.equal(msg.topic, topic);
    assert.deepEqual(msg.body, bodyOf(i), `body of #${i}`);
    assert.equal(msg.tags, tagOf(i), `tags of #${i}`);
    assert.equal(msg.keys, `key-${i} alt-${i}`, `keys of #${i}`);
    assert.equal(msg.properties.origin, 'ali-ons', `user property of #${i}`);
    assert.ok(msg.msgId, `#${i} has no msgId`);
    return i;
  }

  function countBySeq(msgs, topic) {
    const counts = new Array(MESSAGES).fill(0);
    for (const m of msgs) counts[checkMessage(m, topic)]++;
    return counts;
  }

  it('clustering: two consumers receive every message exactly once, fields intact', async () => {
    const topic = 'AliOnsClustering';
    await createTopic(topic);
    const got1 = [];
    const got2 = [];
    // ali-ons's default start position (CONSUME_FROM_LAST_OFFSET), as most users run it; the
    // queues are empty when the group starts, so every message must still arrive.
    const lastOffset = { consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET };
    const c1 = startConsumer('ali_ons_clustering', 'cluster-1', topic, '*', got1, lastOffset);
    const c2 = startConsumer('ali_ons_clustering', 'cluster-2', topic, '*', got2, lastOffset);
    await Promise.all([ c1.ready(), c2.ready() ]);
    // Send only once the four queues are split 2/2, so no queue changes hands mid-stream (a
    // hand-over before the 5 s offset commit would legitimately redeliver).
    await waitFor('the two consumers to split the 4 queues', () =>
      ownedQueues(c1, topic) === 2 && ownedQueues(c2, topic) === 2);

    const sent = await sendAll(topic);
    await waitFor(`${MESSAGES} messages`, () => got1.length + got2.length >= MESSAGES);
    // Give late duplicates a chance to show up before counting.
    await sleep(1500);

    const counts = countBySeq([ ...got1, ...got2 ], topic);
    assert.deepEqual(counts, new Array(MESSAGES).fill(1), 'each message exactly once');
    assert.ok(got1.length > 0 && got2.length > 0,
      `both consumers should get a share (got ${got1.length} and ${got2.length})`);
    const ids = new Set(sent.map(s => s.msgId));
    for (const m of [ ...got1, ...got2 ]) {
      assert.ok(ids.has(m.msgId), `received msgId ${m.msgId} was never returned by a send`);
    }
    assert.deepEqual(errors, []);
  });

  it('offset reset: a running group rewound by the broker receives every message again', async () => {
    const topic = 'AliOnsReset';
    await createTopic(topic);
    const got = [];
    const c = startConsumer('ali_ons_reset', 'reset-1', topic, '*', got);
    await c.ready();
    await waitFor('the consumer to own the 4 queues', () => ownedQueues(c, topic) === 4);
    await sendAll(topic);
    await waitFor(`${MESSAGES} messages`, () => got.length >= MESSAGES);
    // What RocketMQ 5's `mqadmin resetOffsetByTime` does: the broker moves the group's offsets
    // (INVOKE_BROKER_TO_RESET_OFFSET) and the client follows the PULL_OFFSET_MOVED of its next pull.
    execFileSync(process.env.COURIER_BIN, [
      'mqadmin', 'reset-offset', '-n', dev.namesrvAddr, '-g', 'ali_ons_reset', '-t', topic, '-s', '0',
    ], { stdio: [ 'ignore', 'ignore', 'inherit' ] });
    await waitFor(`${MESSAGES} messages again`, () => got.length >= 2 * MESSAGES);
    const counts = countBySeq(got, topic);
    assert.ok(counts.every(n => n >= 2), `each message at least twice after the reset: ${counts}`);
    assert.deepEqual(errors, []);
  });

  it('broadcasting: each of two consumers receives every message', async () => {
    const topic = 'AliOnsBroadcast';
    await createTopic(topic);
    const got1 = [];
    const got2 = [];
    const c1 = startConsumer('ali_ons_broadcast', 'bcast-1', topic, '*', got1, { isBroadcast: true });
    const c2 = startConsumer('ali_ons_broadcast', 'bcast-2', topic, '*', got2, { isBroadcast: true });
    await Promise.all([ c1.ready(), c2.ready() ]);
    await waitFor('each broadcasting consumer to own all 4 queues', () =>
      ownedQueues(c1, topic) === 4 && ownedQueues(c2, topic) === 4);

    await sendAll(topic);
    await waitFor(`${MESSAGES} messages in each consumer`, () =>
      got1.length >= MESSAGES && got2.length >= MESSAGES);
    await sleep(1500);

    assert.deepEqual(countBySeq(got1, topic), new Array(MESSAGES).fill(1), 'consumer 1');
    assert.deepEqual(countBySeq(got2, topic), new Array(MESSAGES).fill(1), 'consumer 2');
    assert.deepEqual(errors, []);
  });

  it('retry: a message the handler asks to retry comes back through %RETRY%group', async () => {
    const topic = 'AliOnsRetry';
    await createTopic(topic);
    const attempts = [];
    const c = startConsumer('ali_ons_retry', 'retry-1', topic, '*', attempts);
    // startConsumer's handler only records; wrap it so the first delivery of #0 asks for a retry.
    const { handler } = c.subscriptions.get(topic);
    c.subscriptions.get(topic).handler = async msg => {
      await handler(msg);
      if (msg.properties.seq === '0' && msg.reconsumeTimes === 0) return Consumer.ACTION_RETRY;
    };
    await c.ready();
    await waitFor('the consumer to own all 4 queues', () => ownedQueues(c, topic) === 4);

    const msg = new Message(topic, tagOf(0), bodyOf(0));
    msg.keys = [ 'key-0', 'alt-0' ];
    msg.properties.seq = '0';
    msg.properties.origin = 'ali-ons';
    const sent = await producer.send(msg);
    assert.equal(sent.sendStatus, 'SEND_OK');

    // The broker holds a first retry for delay level 3 (10 s) before it reaches %RETRY%group.
    await waitFor('the redelivery', () => attempts.length >= 2, 60000);
    await sleep(1500);
    assert.equal(attempts.length, 2, 'one delivery and exactly one redelivery');
    const [ first, second ] = attempts;
    assert.equal(first.reconsumeTimes, 0);
    assert.equal(second.reconsumeTimes, 1, 'reconsumeTimes of the redelivery');
    for (const m of [ first, second ]) checkMessage(m, topic);
    assert.equal(second.originMessageId, first.msgId, 'ORIGIN_MESSAGE_ID of the redelivery');
    assert.deepEqual(errors, []);
  });

  it('delay level: a DELAY=1 message is held by the scheduler and then delivered intact', async () => {
    const topic = 'AliOnsDelay';
    await createTopic(topic);
    const got = [];
    const c = startConsumer('ali_ons_delay', 'delay-1', topic, '*', got);
    await c.ready();
    await waitFor('the consumer to own all 4 queues', () => ownedQueues(c, topic) === 4);

    const msg = new Message(topic, tagOf(2), bodyOf(2));
    msg.keys = [ 'key-2', 'alt-2' ];
    msg.properties.seq = '2';
    msg.properties.origin = 'ali-ons';
    msg.delayTimeLevel = 1;
    const sent = await producer.send(msg);
    assert.equal(sent.sendStatus, 'SEND_OK');

    await waitFor('the delayed message', () => got.length >= 1, 30000);
    await sleep(1500);
    assert.equal(got.length, 1);
    // Delivered on its own topic (REAL_TOPIC restored), not on SCHEDULE_TOPIC_XXXX.
    checkMessage(got[0], topic);
    assert.deepEqual(errors, []);
  });

  it('tag subscription: a TagB consumer sees only TagB messages', async () => {
    const topic = 'AliOnsTags';
    await createTopic(topic);
    const got = [];
    const c = startConsumer('ali_ons_tags', 'tags-1', topic, 'TagB', got);
    await c.ready();
    await waitFor('the consumer to own all 4 queues', () => ownedQueues(c, topic) === 4);

    await sendAll(topic);
    const expected = MESSAGES / 2;
    await waitFor(`${expected} TagB messages`, () => got.length >= expected);
    await sleep(1500);

    const counts = countBySeq(got, topic);
    for (let i = 0; i < MESSAGES; i++) {
      assert.equal(counts[i], tagOf(i) === 'TagB' ? 1 : 0, `message #${i} (${tagOf(i)})`);
    }
    assert.deepEqual(errors, []);
  });

  it('SQL92 selector: a consumer sees only the messages whose properties it selects', async () => {
    const topic = 'AliOnsSql';
    await createTopic(topic);
    const got = [];
    // ali-ons takes a non-tag expression as an object; `seq` is a string property compared
    // as a number, TAGS a property like any other.
    const selector = {
      expressionType: 'SQL92',
      subString: "seq BETWEEN 3 AND 6 OR (TAGS = 'TagB' AND seq > 33)",
    };
    const selects = i => (i >= 3 && i <= 6) || (tagOf(i) === 'TagB' && i > 33);
    const c = startConsumer('ali_ons_sql', 'sql-1', topic, selector, got);
    await c.ready();
    await waitFor('the consumer to own all 4 queues', () => ownedQueues(c, topic) === 4);

    await sendAll(topic);
    let expected = 0;
    for (let i = 0; i < MESSAGES; i++) if (selects(i)) expected++;
    await waitFor(`${expected} selected messages`, () => got.length >= expected);
    await sleep(1500);

    const counts = countBySeq(got, topic);
    for (let i = 0; i < MESSAGES; i++) {
      assert.equal(counts[i], selects(i) ? 1 : 0, `message #${i} (${tagOf(i)})`);
    }
    assert.deepEqual(errors, []);
  });
});
