// CSV exports: RFC 4180 quoting, formula neutralisation, the same figures as JSON, a large export
// read back whole, and the session's viewers over a range (JSON pages too).
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { parse } from 'csv-parse/sync'
import { auth, build, sessionName, testDatabase } from '../../helper.ts'

const db = await testDatabase(t)
const { prisma } = db
const app = await build(t, { db })
const get = async (url: string) => await app.inject({ method: 'GET', url, headers: auth })

const sessionId = sessionName()
await prisma.session.create({ data: { id: sessionId, name: 'S', authMethod: 'pairing', phoneNumber: '4915100000000', state: 'connected' } })
const statusId = randomUUID()
const sentAt = new Date('2026-05-01T10:00:00Z')
await prisma.status.create({
  data: { id: statusId, sessionId, type: 'text', content: 'x', state: 'sent', sentAt, audience: ['4915100000000@s.whatsapp.net', '1@s.whatsapp.net', '2@s.whatsapp.net'] }
})
// Viewer numbers come from WhatsApp, but a cell is never trusted to be digits.
const tricky = ['=HYPERLINK("http://evil")', '+4915111', '-1+2', '@SUM(A1)', 'a,b', 'say "hi"', 'two\r\nlines', '\tTAB', '4915122222222']
await prisma.statusViewer.createMany({
  data: tricky.map((viewerNumber, i) => ({ statusId, sessionId, viewerNumber, viewedAt: new Date(sentAt.getTime() + (i + 1) * 60_000) }))
})

t.test("a status's viewers as CSV: header, CRLF, quoting, neutralised formulas", async t => {
  const res = await get(`/api/sessions/${sessionId}/statuses/${statusId}/viewers?format=csv`)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
  t.match(res.headers['content-disposition'], /^attachment; filename="viewers-[0-9a-f-]+\.csv"$/)
  const lines = res.body.split('\r\n')
  t.equal(lines[0], 'viewerNumber,viewedAt')
  t.equal(lines[1], '"\'=HYPERLINK(""http://evil"")",2026-05-01T10:01:00.000Z', 'formula prefixed, quoted, quotes doubled')
  t.equal(lines[2], '\'+4915111,2026-05-01T10:02:00.000Z')
  t.equal(lines[3], '\'-1+2,2026-05-01T10:03:00.000Z')
  t.equal(lines[4], '\'@SUM(A1),2026-05-01T10:04:00.000Z')
  t.equal(lines[5], '"a,b",2026-05-01T10:05:00.000Z')
  t.equal(lines[6], '"say ""hi""",2026-05-01T10:06:00.000Z')
  t.equal(lines[7], '"two', 'a line break inside a quoted field')
  t.equal(lines[8], 'lines",2026-05-01T10:07:00.000Z')
  t.equal(lines[9], '\'\tTAB,2026-05-01T10:08:00.000Z')
  t.equal(lines[10], '4915122222222,2026-05-01T10:09:00.000Z')
  t.equal(lines[11], '', 'the last record ends with CRLF')
  const records = parse(res.body, { columns: true }) as Array<{ viewerNumber: string }>
  t.same(records.map(r => r.viewerNumber), tricky.map(v => /^[=+\-@\t\r]/.test(v) ? `'${v}` : v), 'a CSV parser reads every cell back')
})

t.test('analytics as CSV: the series with the JSON figures', async t => {
  const query = 'from=2026-04-30T00:00:00Z&to=2026-05-02T00:00:00Z'
  const json = (await get(`/api/sessions/${sessionId}/analytics?${query}`)).json().data
  const res = await get(`/api/sessions/${sessionId}/analytics?${query}&format=csv`)
  t.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
  const records = parse(res.body, { columns: true }) as Array<Record<string, string>>
  t.same(Object.keys(records[0]!), ['start', 'statuses', 'statuses_text', 'statuses_image', 'statuses_video', 'statuses_url', 'statuses_audio', 'audience', 'views',
    'uniqueViewers', 'reach', 'medianTimeToFirstViewMs'])
  t.equal(records.length, json.series.length)
  t.match(records[1], {
    start: json.series[1].start,
    statuses: '1',
    statuses_text: '1',
    audience: '2',
    views: String(tricky.length),
    uniqueViewers: String(tricky.length),
    reach: String(json.series[1].reach),
    medianTimeToFirstViewMs: String(json.series[1].medianTimeToFirstViewMs)
  })
  t.match(records[0], { statuses: '0', reach: '', medianTimeToFirstViewMs: '' }, 'null is an empty cell')
})

t.test("a session's viewers over a range: JSON pages and a large CSV read back whole", async t => {
  const big = randomUUID()
  const at = new Date('2026-06-01T08:00:00Z')
  await prisma.status.create({ data: { id: big, sessionId, type: 'image', content: 'x', state: 'sent', sentAt: at } })
  await prisma.$executeRaw`INSERT INTO status_viewers (status_id, viewer_number, session_id, viewed_at)
    SELECT ${big}::uuid, (4910000000000 + g)::text, ${sessionId}, ${at}::timestamptz + g * interval '1 second' FROM generate_series(1, 20000) g`
  const range = 'from=2026-06-01T00:00:00Z&to=2026-06-02T00:00:00Z'

  const page = (await get(`/api/sessions/${sessionId}/viewers?${range}&limit=2`)).json()
  t.same(page.data, [
    { statusId: big, viewerNumber: '4910000000001', viewedAt: '2026-06-01T08:00:01.000Z' },
    { statusId: big, viewerNumber: '4910000000002', viewedAt: '2026-06-01T08:00:02.000Z' }
  ])
  const next = (await get(`/api/sessions/${sessionId}/viewers?${range}&limit=2&cursor=${page.nextCursor}`)).json()
  t.equal(next.data[0].viewerNumber, '4910000000003', 'the cursor continues after the last row')
  t.equal((await get(`/api/sessions/${sessionId}/viewers?${range}&limit=2&cursor=bad`)).statusCode, 400)
  t.equal((await get(`/api/sessions/${sessionId}/viewers?from=2026-06-01T08:00:00Z&to=2026-06-01T08:00:03Z`)).json().data.length, 2,
    'views in [from, to), to the millisecond')

  const res = await get(`/api/sessions/${sessionId}/viewers?${range}&format=csv`)
  t.equal(res.statusCode, 200)
  const records = parse(res.body, { columns: true }) as Array<{ statusId: string, viewerNumber: string, viewedAt: string }>
  t.equal(records.length, 20_000, 'every row, across pages')
  t.same(records[0], { statusId: big, viewerNumber: '4910000000001', viewedAt: '2026-06-01T08:00:01.000Z' })
  t.same(records[19_999], { statusId: big, viewerNumber: '4910000020000', viewedAt: '2026-06-01T13:33:20.000Z' })
  t.equal(new Set(records.map(r => r.viewerNumber)).size, 20_000, 'no row twice')

  const empty = await get(`/api/sessions/${sessionId}/viewers?from=2020-01-01&to=2020-01-02&format=csv`)
  t.equal(empty.body, 'statusId,viewerNumber,viewedAt\r\n', 'no rows: the header alone')
  const missing = await get('/api/sessions/nobody-here/viewers?format=csv')
  t.equal(missing.statusCode, 404)
  t.equal(missing.headers['content-type'], 'application/json; charset=utf-8', 'an error before the first byte is the JSON envelope')
})
