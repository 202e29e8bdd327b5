import { defineConfig } from 'prisma/config'

// Read by the Prisma CLI (generate, validate, format). Migrations do not go
// through the CLI here: see scripts/migrate.ts. The URL stays optional so that
// `prisma generate` works at install time without a database.
export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL },
})
