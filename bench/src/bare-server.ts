// The baseline of the connection-status benchmark: a bare Fastify JSON route, nothing else.
import Fastify from 'fastify'

const app = Fastify()
app.get('/json', async () => ({ success: true, data: { sessionId: 'bench', connected: true, state: 'connected' } }))
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
console.log('listening')
