// Runs the simulator standalone: prints its URLs and the settings a client needs, as JSON and as env lines.
import { parseArgs } from 'node:util'
import { startSimulator } from './index.ts'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.WA_SIM_PORT ?? '7780' },
    'media-port': { type: 'string', default: process.env.WA_SIM_MEDIA_PORT ?? '0' },
    host: { type: 'string', default: process.env.WA_SIM_HOST ?? '127.0.0.1' },
    state: { type: 'string', default: process.env.WA_SIM_STATE },
    'write-env': { type: 'string' },
    'lazy-decrypt': { type: 'boolean', default: false }
  }
})

const sim = await startSimulator({
  port: Number(values.port),
  mediaPort: Number(values['media-port']),
  host: values.host,
  stateFile: values.state,
  lazyDecrypt: values['lazy-decrypt']
})
const envLines = [
  `WA_WS_URL=${sim.settings.WA_WS_URL}`,
  `WA_TRUST_ROOT=${sim.settings.WA_TRUST_ROOT}`,
  `WA_MEDIA_CA=${JSON.stringify(sim.settings.WA_MEDIA_CA)}`
]
if (values['write-env']) {
  const { writeFile } = await import('node:fs/promises')
  await writeFile(values['write-env'], envLines.join('\n') + '\n')
}
console.log(JSON.stringify({ control: `${sim.url}/sim`, wsUrl: sim.wsUrl, mediaHost: sim.mediaHost, settings: { ...sim.settings, WA_MEDIA_CA: '(PEM, see env line)' } }, null, 2))
console.log(envLines.join('\n'))

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  if (values.state) await sim.save().catch(err => console.error('could not save state:', err.message))
  await sim.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
