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
export {
  TIME_TO_VIEW_BOUNDS_MS,
  histogramQuantile,
  rawBucketsSql,
  rawViewerBucketsSql,
  rollupWatermark,
  viewersOf,
  type AnalyticsGrainName,
  type BucketFigures,
} from './analytics.ts'
export {
  ROLLUP_DELAY_DAYS,
  deleteRawPastRetention,
  pruneAnalytics,
  rollupAnalytics,
  type RollupResult,
} from './analytics-rollup.ts'
