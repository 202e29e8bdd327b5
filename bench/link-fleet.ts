// Links N real Baileys clients to one simulator (in its own process), `concurrency` at a time,
// as a fleet of workers would, and prints the time per device and the simulator's memory per device.
//   pnpm --filter @wss/bench link-fleet -- --devices 200 --concurrency 16
import { fork, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { SimClient, type SimulatorSettings } from '@wss/wa-sim'
import { linkClient, type TestClient } from '@wss/wa-sim/testing'

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '16' },
    workers: { type: 'string', default: '2' }
  }
})

// Worker mode: a process of the fleet, linking the phones it is sent, `concurrency` at a time.
if (process.env.LINK_FLEET_WORKER) {
  const { settings, phones, concurrency } = JSON.parse(process.env.LINK_FLEET_WORKER) as { settings: SimulatorSettings & { control: string }, phones: string[], concurrency: number }
  const sim = new SimClient(settings.control)
  const clients: TestClient[] = []
  const times: number[] = []
  let next = 0
  const cpu0 = process.cpuUsage()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < phones.length) {
      const phone = phones[next++]!
      const t0 = Date.now()
      clients.push(await linkClient(settings, sim, phone, 'qr'))
      times.push(Date.now() - t0)
    }
  }))
  const cpu = process.cpuUsage(cpu0)
  process.send!({ times, cpuMs: (cpu.user + cpu.system) / 1000 })
  process.on('message', () => { for (const c of clients) c.end(); setTimeout(() => process.exit(0), 200) })
  await new Promise(() => {})
}
const devices = Number(values.devices)
const concurrency = Number(values.concurrency)

const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10 // utime + stime, in clock ticks of 10 ms
}
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])

const child = spawn(process.execPath, ['--import', 'tsx', new URL('../packages/wa-sim/src/cli.ts', import.meta.url).pathname, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
const settings = await new Promise<SimulatorSettings & { control: string }>((resolve, reject) => {
  let out = ''
  child.stdout.on('data', chunk => {
    out += chunk
    const env = Object.fromEntries([...out.matchAll(/^(WA_[A-Z_]+)=(.*)$/gm)].map(m => [m[1], m[2]]))
    const control = /"control": "([^"]+)"/.exec(out)?.[1]
    if (env.WA_WS_URL && env.WA_TRUST_ROOT && env.WA_MEDIA_CA && control) {
      resolve({ WA_WS_URL: env.WA_WS_URL, WA_TRUST_ROOT: env.WA_TRUST_ROOT, WA_MEDIA_CA: JSON.parse(env.WA_MEDIA_CA), control: control.replace(/\/sim$/, '') })
    }
  })
  child.on('exit', code => reject(new Error(`simulator exited with ${code}`)))
})
const sim = new SimClient(settings.control)
const phones = Array.from({ length: devices }, (_, i) => String(19990000000 + i))
for (const phone of phones) await sim.createAccount(phone)
await new Promise(resolve => setTimeout(resolve, 500))
const rssBefore = rssKb(child.pid!)

const simCpuBefore = cpuMs(child.pid!)
const workers = Number(values.workers)
const perDevice: number[] = []
let clientCpuMs = 0
const started = Date.now()
const fleet = Array.from({ length: workers }, (_, w) => {
  const share = phones.filter((_, i) => i % workers === w)
  const proc = fork(new URL(import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, LINK_FLEET_WORKER: JSON.stringify({ settings, phones: share, concurrency: Math.ceil(concurrency / workers) }) }
  })
  const done = new Promise<void>((resolve, reject) => {
    proc.once('message', (m: any) => { perDevice.push(...m.times); clientCpuMs += m.cpuMs; resolve() })
    proc.once('exit', code => reject(new Error(`fleet worker exited with ${code}`)))
  })
  return { proc, done }
})
await Promise.all(fleet.map(f => f.done))
const total = Date.now() - started
const simCpu = cpuMs(child.pid!) - simCpuBefore
await new Promise(resolve => setTimeout(resolve, 1000))
const rssAfter = rssKb(child.pid!)
const linked = (await sim.accounts()).filter(a => a.devices.length === 1).length

perDevice.sort((a, b) => a - b)
const pct = (p: number) => perDevice[Math.min(perDevice.length - 1, Math.floor(p * perDevice.length))]!
const rows: Array<[string, string]> = [
  ['devices linked', `${linked} / ${devices}`],
  ['concurrency (links in flight) / fleet processes', `${concurrency} / ${workers}`],
  ['total time', `${(total / 1000).toFixed(1)} s`],
  ['throughput time per device (total / devices)', `${(total / devices).toFixed(0)} ms`],
  ['link latency p50 / p95 (one device, QR to open)', `${pct(0.5)} ms / ${pct(0.95)} ms`],
  ['CPU per device: simulator / Baileys clients', `${(simCpu / devices).toFixed(0)} ms / ${(clientCpuMs / devices).toFixed(0)} ms`],
  ['simulator RSS before / after', `${(rssBefore / 1024).toFixed(1)} MB / ${(rssAfter / 1024).toFixed(1)} MB`],
  ['simulator memory per linked device', `${((rssAfter - rssBefore) / devices).toFixed(0)} KB`]
]
const width = Math.max(...rows.map(r => r[0].length))
console.log(`\nlink-fleet: ${devices} real Baileys clients against one simulator process`)
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)

for (const f of fleet) { f.proc.removeAllListeners('exit'); f.proc.send('stop') }
child.kill('SIGTERM')
setTimeout(() => process.exit(linked === devices ? 0 : 1), 500)
