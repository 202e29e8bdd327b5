import type { FastifyInstance } from 'fastify'
import { auth } from './helper.ts'

export interface ScopeInput { sessions: 'all' | string[], access: 'read' | 'write' }

/** Creates a scoped key with the admin key; returns its id and the key (shown only once). */
export async function createKey (app: FastifyInstance, scope: ScopeInput, name = 'test key'): Promise<{ id: string, key: string }> {
  const res = await app.inject({ method: 'POST', url: '/api/keys', headers: auth, payload: { name, scope } })
  if (res.statusCode !== 201) throw new Error(`key not created: ${res.statusCode} ${res.body}`)
  const { id, key } = res.json().data as { id: string, key: string }
  return { id, key }
}

/** Headers carrying a key. */
export const withKey = (key: string) => ({ 'x-api-key': key })
