// A fired scheduled status is never posted late nor twice: a send that comes after the status's
// grace (its send was lost and found again, the workers were away) fails it instead of posting it;
// a send WhatsApp took but never acknowledged is not posted again by the maintenance; and a send
// that failed on a connected socket (a media upload refused) gets the send's own retries, not the
// grace of a session away.
import t from 'tap'
import { createServer } from 'node:http'
import { randomUUID } from 'node:crypto'
import { exitWhenDone } from '@wss/wa-sim/testing'
import { sendStatusJobId } from '@wss/shared'
import { createLogger } from '../../src/logger.ts'
import { guardConsole } from '../../src/console-guard.ts'
import { eventually, linkByPairingCode, startWorkerStack } from '../helpers.ts'

exitWhenDone(t)
guardConsole(createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'))

const MINUTE = 60_000
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082', 'hex')

t.test('fired scheduled statuses: never late, never twice', async t => {
  const server = createServer((req, res) => {
    if (req.url === '/pic.png') { res.writeHead(200, { 'content-type': 'image/png' }); res.end(PNG); return }
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const stack = await startWorkerStack(t, { FETCH_ALLOW_PRIVATE: 'true', ACK_TIMEOUT_MS: '4000' })
  const { sim, prisma, events, bus } = stack
  const phone = '15557791000'
  const alice = '15557791001'
  for (const p of [phone, alice]) await sim.client.createAccount(p)
  const { sessionId, linked } = await linkByPairingCode(stack, phone)
  t.equal(linked, true)
  // A status as a firing leaves it: pending, with its scheduled time.
  const fired = async (scheduledAt: Date, data: Record<string, unknown> = {}) => {
    const id = randomUUID()
    await prisma.status.create({ data: { id, sessionId, type: 'text', content: `status ${id}`, targetNumbers: [alice], state: 'pending', scheduledAt, ...data } as never })
    return id
  }
  const send = (statusId: string, timeoutMs: number) => bus.send('send-status', { sessionId, statusId }, timeoutMs, { jobId: sendStatusJobId(statusId) })
  const row = (id: string) => prisma.status.findUniqueOrThrow({ where: { id } })

  await t.test('a send that comes after the grace fails the status and posts nothing', async t => {
    // Its grace (SCHEDULE_GRACE_MINUTES, 60) ended a minute ago: the send was found again late.
    const late = await fired(new Date(Date.now() - 61 * MINUTE))
    const answer = await send(late, 60_000)
    t.equal(answer.ok, false)
    const r = await row(late)
    t.equal(r.state, 'failed')
    t.equal(r.messageId, null, 'never handed to WhatsApp')
    t.match(r.error, /not sent between its scheduled time .* and the end of its grace \(SCHEDULE_GRACE_MINUTES\)/)
    t.equal((await events.waitFor(e => e.event === 'status-failed' && e.data.id === late)).data.error, r.error)

    // The same found by the maintenance (Redis lost the send, the workers came back an hour later).
    const lost = await fired(new Date(Date.now() - 61 * MINUTE))
    await stack.manager.maintenance.run()
    t.ok(await eventually(async () => (await row(lost)).state === 'failed', 30_000), 'failed by the maintenance')
    t.equal((await row(lost)).messageId, null, 'not posted')
  })

  await t.test('a send WhatsApp took but never acknowledged is not posted again by the maintenance', async t => {
    // Replies to the phone's devices come 8 s late: the send's ack (4 s) times out after the post.
    await sim.client.delayReplies(8000, phone)
    const statusId = await fired(new Date(Date.now() - 1000))
    const answer = await send(statusId, 60_000)
    await sim.client.delayReplies(0, phone)
    t.match(answer, { ok: false, code: 'WORKER_TIMEOUT' })
    const r = await row(statusId)
    t.equal(r.state, 'pending', 'its outcome is unknown')
    t.not(r.messageId, null)
    t.equal((await sim.client.status(phone, r.messageId!, 20_000)).stanzas, 1, 'posted')
    for (let i = 0; i < 2; i++) await stack.manager.maintenance.run()
    // Any send queued again would have run by now.
    await new Promise(resolve => setTimeout(resolve, 6000))
    t.equal((await sim.client.status(phone, r.messageId!)).stanzas, 1, 'posted once')
    t.equal((await row(statusId)).state, 'pending')
  })

  await t.test('a media upload refused on a connected socket gets the send\'s retries, not the grace', async t => {
    await sim.client.failNextUploads(1000)
    t.teardown(() => sim.client.failNextUploads(0))
    const statusId = await fired(new Date(Date.now() - 1000), { type: 'image', content: `${base}/pic.png` })
    const answer = await send(statusId, 90_000)
    t.equal(answer.ok, false, JSON.stringify(answer))
    const r = await row(statusId)
    t.equal(r.state, 'failed', 'failed after the send\'s own retries, not retried for the hour of its grace')
    t.notMatch(r.error, /SCHEDULE_GRACE_MINUTES/)
  })
})
