export {
  createAuthStore,
  type AuthStore,
  type AuthStoreDeps,
  type AuthStoreLogger,
  type PostgresKeyStore,
  type SessionAuth,
} from './auth-store.ts'
export {
  DEFAULT_KEY_CACHE_MAX,
  createSharedKeyCache,
  type SharedKeyCache,
  type SharedKeyCacheOptions,
} from './key-cache.ts'
