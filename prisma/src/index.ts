export * from '../generated/client.ts'
export { createPrisma, type CreatePrismaOptions, type Tx } from './client.ts'
export {
  StaleGenerationError,
  assertSessionGeneration,
  claimSessionGeneration,
  takeSessionGeneration,
  updateSessionFenced,
  withSessionGeneration,
  type Generation,
} from './fencing.ts'
export {
  dropDatabase,
  ensureDatabase,
  migrate,
  splitDatabaseUrl,
  type MigrateOptions,
  type MigrateResult,
} from './migrate.ts'
