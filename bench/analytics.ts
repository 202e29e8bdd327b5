// Session analytics over a year of generated data (1,000,000 viewer rows of one session), after
// the daily rollup; and the CSV export of 100,000 (then 1,000,000) viewers, with the API node's RSS.
//   pnpm --filter @wss/bench analytics [-- --requests 200 --viewers 1000000]
import { rollupAnalytics } from '@wss/db'
import { loadavg } from 'node:os'
import { cpuMs, fmtBytes, fmtMs, machine, options, percentile, printTable, rssBytes, sleep, startStack } from './src/harness.ts'

const values = options({ requests: { type: 'string', default: '200' }, viewers: { type: 'string', default: '1000000' }, statuses: { type: 'string', default: '3650' } })
const REQUESTS = Number(values.requests)
const VIEWERS = Number(values.viewers)
const STATUSES = Number(values.statuses)
const PER_STATUS = Math.ceil(VIEWERS / STATUSES)
const CONTACTS = 5000
const DAY = 86_400_000

console.log(`analytics: ${VIEWERS} viewer rows over ${STATUSES} statuses of one session in a year; ${machine()}`)
const stack = await startStack({ name: 'analytics', env: { RATE_LIMIT_MAX: '100000000' } })
const { prisma } = stack
try {
  const api = await stack.addApi()
  const sessionId = 'bench-analytics'
  await prisma.session.create({ data: { id: sessionId, name: 'analytics', authMethod: 'pairing', phoneNumber: '4915100000000', state: 'logged_out' } })
  const now = Date.now()
  const start = new Date(now - 365 * DAY)

  // A status every ~2.4 h, 4 types, 300 recipients; each viewed by PER_STATUS of 5,000 contacts
  // (a different slice each time), the views spread over ~20 h after posting.
  let t0 = performance.now()
  await prisma.$executeRaw`INSERT INTO statuses (id, session_id, type, content, state, created_at, sent_at, expires_at, audience)
    SELECT gen_random_uuid(), ${sessionId}, (ARRAY['text','image','video','url'])[1 + i % 4]::status_type, 'bench', 'sent',
      ${start}::timestamptz + (i * ${365 * DAY / STATUSES}::float8) * interval '1 millisecond',
      ${start}::timestamptz + (i * ${365 * DAY / STATUSES}::float8) * interval '1 millisecond',
      ${start}::timestamptz + (i * ${365 * DAY / STATUSES}::float8) * interval '1 millisecond' + interval '1 day',
      array_fill('x@s.whatsapp.net'::text, ARRAY[301])
    FROM generate_series(0, ${STATUSES - 1}) i`
  await prisma.$executeRaw`INSERT INTO status_viewers (status_id, viewer_number, session_id, viewed_at)
    SELECT s.id, (4915200000000 + (s.n * 37 + k) % ${CONTACTS})::text, ${sessionId}, s.sent_at + (k * k * 1.0) * interval '1 second'
    FROM (SELECT id, sent_at, row_number() OVER (ORDER BY sent_at) AS n FROM statuses WHERE session_id = ${sessionId}) s,
      generate_series(1, ${PER_STATUS}) k
    WHERE (s.n - 1) * ${PER_STATUS} + k <= ${VIEWERS}`
  await prisma.$executeRawUnsafe('VACUUM ANALYZE statuses')
  await prisma.$executeRawUnsafe('VACUUM ANALYZE status_viewers')
  const generated = performance.now() - t0
  const viewerRows = await prisma.statusViewer.count({ where: { sessionId } })

  t0 = performance.now()
  const rollup = await rollupAnalytics(prisma, new Date(now))
  const rollupMs = performance.now() - t0
  await prisma.$executeRawUnsafe('VACUUM ANALYZE analytics_buckets')
  await prisma.$executeRawUnsafe('VACUUM ANALYZE analytics_viewer_buckets')
  const rollupRows = await prisma.$queryRaw<Array<{ grain: string, n: number }>>`
    SELECT grain::text, count(*)::int AS n FROM analytics_viewer_buckets GROUP BY 1 ORDER BY 1`

  const headers = { 'x-api-key': stack.apiKey }
  // CPU per request of the API node and of the Postgres backends serving this database (from
  // /proc), so the figures mean something on a shared machine whose wall clock is not its own.
  const backendCpu = async () => {
    const pids = await prisma.$queryRaw<Array<{ pid: number }>>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`
    const out = new Map<number, number>()
    for (const { pid } of pids) { try { out.set(pid, cpuMs(pid)) } catch { /* gone, or not ours to read */ } }
    return out
  }
  const timed = async (path: string, n: number) => {
    const times: number[] = []
    const load = loadavg()[0]!
    const api0 = cpuMs(api.pid)
    const pg0 = await backendCpu()
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      const res = await fetch(api.url + path, { headers })
      const body = await res.text()
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body.slice(0, 300)}`)
      times.push(performance.now() - t)
    }
    const apiCpu = (cpuMs(api.pid) - api0) / n
    let pgCpu = 0
    for (const [pid, ms] of await backendCpu()) pgCpu += ms - (pg0.get(pid) ?? 0)
    return Object.assign(times.sort((a, b) => a - b), { apiCpu, pgCpu: pgCpu / n, load: [load, loadavg()[0]!] })
  }
  const iso = (ms: number) => new Date(ms).toISOString()
  const yearPath = `/api/sessions/${sessionId}/analytics?from=${iso(now - 365 * DAY)}&to=${iso(now)}&interval=day`
  const monthPath = `/api/sessions/${sessionId}/analytics?from=${iso(now - 30 * DAY)}&to=${iso(now)}&interval=hour`
  const nyPath = `${yearPath}&tz=America/New_York`
  const check = await (await fetch(api.url + yearPath, { headers })).json() as any
  await timed(yearPath, 10) // warm-up
  const year = await timed(yearPath, REQUESTS)
  const month = await timed(monthPath, REQUESTS)
  const ny = await timed(nyPath, Math.max(10, REQUESTS / 10))

  // CSV exports: the API node's RSS sampled every 50 ms while the body is read.
  const exportCsv = async (from: string, to: string) => {
    await sleep(1000)
    const before = rssBytes(api.pid)
    let peak = before
    const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(api.pid)) }, 50)
    const t = performance.now()
    const res = await fetch(`${api.url}/api/sessions/${sessionId}/viewers?from=${from}&to=${to}&format=csv`, { headers })
    let bytes = 0
    let lines = 0
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length
      for (const b of chunk) if (b === 10) lines++
    }
    const ms = performance.now() - t
    clearInterval(sampler)
    await sleep(2000)
    return { rows: lines - 1, bytes, ms, before, peak, after: rssBytes(api.pid) }
  }
  const [{ at: cut }] = await prisma.$queryRaw<Array<{ at: Date }>>`
    SELECT viewed_at AS at FROM status_viewers WHERE session_id = ${sessionId} ORDER BY viewed_at OFFSET 100000 LIMIT 1`
  const small = await exportCsv(iso(0), cut!.toISOString())
  const all = await exportCsv(iso(0), iso(now + 2 * DAY))

  const p = (xs: number[]) => `${fmtMs(percentile(xs, 50))} / ${fmtMs(percentile(xs, 95))}`
  const cpu = (xs: { apiCpu: number, pgCpu: number, load: number[] }) =>
    `${fmtMs(xs.apiCpu)} / ${fmtMs(xs.pgCpu)} (load average ${xs.load.map(l => l.toFixed(1)).join(' → ')})`
  printTable(`analytics (${machine()}; shared with other work during the run)`, [
    ['viewer rows generated (one session, one year)', `${viewerRows} over ${STATUSES} statuses, ${CONTACTS} contacts, ${fmtMs(generated)}`],
    ['rollup of the year (first run)', `${fmtMs(rollupMs)}; viewer rows ${rollupRows.map(r => `${r.grain} ${r.n}`).join(', ')}`],
    ['answer checked', `${check.data.totals.statuses} statuses, ${check.data.totals.views} views, ${check.data.totals.uniqueViewers} unique, ${check.data.series.length} points`],
    [`year by day (UTC), p50 / p95 over ${REQUESTS}`, p(year), '≤ 200 ms p95', percentile(year, 95) <= 200],
    ['  CPU per request: API node / Postgres', cpu(year)],
    [`30 days by hour, p50 / p95 over ${REQUESTS}`, p(month), '≤ 200 ms p95', percentile(month, 95) <= 200],
    ['  CPU per request: API node / Postgres', cpu(month)],
    [`year by day in America/New_York, p50 / p95 over ${ny.length}`, p(ny)],
    ['  CPU per request: API node / Postgres', cpu(ny)],
    [`CSV ${small.rows} viewers: time, size`, `${fmtMs(small.ms)}, ${fmtBytes(small.bytes)}`],
    ['  API RSS before / peak / after', `${fmtBytes(small.before)} / ${fmtBytes(small.peak)} / ${fmtBytes(small.after)}`, 'constant', small.peak - small.before < 64 * 2 ** 20],
    [`CSV ${all.rows} viewers: time, size`, `${fmtMs(all.ms)}, ${fmtBytes(all.bytes)}`],
    ['  API RSS before / peak / after', `${fmtBytes(all.before)} / ${fmtBytes(all.peak)} / ${fmtBytes(all.after)}`, 'constant', all.peak - all.before < 64 * 2 ** 20]
  ])
  if (!rollup.ran) console.log('note: the rollup had already run today in this database')
} finally {
  await stack.stop()
}
