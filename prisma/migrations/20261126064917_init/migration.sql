-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "auth_method" AS ENUM ('pairing', 'qrcode');

-- CreateEnum
CREATE TYPE "session_state" AS ENUM ('connecting', 'awaiting_pairing', 'awaiting_qr', 'connected', 'disconnected', 'logged_out');

-- CreateEnum
CREATE TYPE "status_type" AS ENUM ('text', 'image', 'video', 'url');

-- CreateEnum
CREATE TYPE "status_state" AS ENUM ('pending', 'sent', 'failed', 'deleted');

-- CreateEnum
CREATE TYPE "upload_kind" AS ENUM ('image', 'video');

-- CreateTable
CREATE TABLE "sessions" (
    "id" VARCHAR(64) NOT NULL,
    "name" TEXT NOT NULL,
    "auth_method" "auth_method" NOT NULL,
    "phone_number" TEXT,
    "own_number" TEXT,
    "own_lid" TEXT,
    "state" "session_state" NOT NULL DEFAULT 'connecting',
    "last_error" TEXT,
    "pairing_code" TEXT,
    "qr_code" TEXT,
    "generation" BIGINT NOT NULL DEFAULT 0,
    "linked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "sessions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "auth_creds" (
    "session_id" VARCHAR(64) NOT NULL,
    "creds" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "auth_creds_pkey" PRIMARY KEY ("session_id")
);

-- CreateTable
CREATE TABLE "auth_keys" (
    "session_id" VARCHAR(64) NOT NULL,
    "type" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "value" JSONB NOT NULL,

    CONSTRAINT "auth_keys_pkey" PRIMARY KEY ("session_id","type","id")
);

-- CreateTable
CREATE TABLE "statuses" (
    "id" UUID NOT NULL,
    "session_id" VARCHAR(64) NOT NULL,
    "message_id" TEXT,
    "type" "status_type" NOT NULL,
    "content" TEXT NOT NULL,
    "caption" TEXT,
    "target_numbers" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "audience" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "background_color" TEXT,
    "font" INTEGER,
    "upload_id" TEXT,
    "state" "status_state" NOT NULL DEFAULT 'pending',
    "error" TEXT,
    "idempotency_key" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sent_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "statuses_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "status_viewers" (
    "status_id" UUID NOT NULL,
    "viewer_number" TEXT NOT NULL,
    "session_id" VARCHAR(64) NOT NULL,
    "viewer_lid" TEXT,
    "viewed_at" TIMESTAMPTZ(3) NOT NULL,
    "played" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "status_viewers_pkey" PRIMARY KEY ("status_id","viewer_number")
);

-- CreateTable
CREATE TABLE "uploads" (
    "id" TEXT NOT NULL,
    "kind" "upload_kind" NOT NULL,
    "mime_type" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "data" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "uploads_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "statuses_session_id_created_at_idx" ON "statuses"("session_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "statuses_upload_id_idx" ON "statuses"("upload_id");

-- CreateIndex
CREATE UNIQUE INDEX "statuses_session_id_idempotency_key_key" ON "statuses"("session_id", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "statuses_session_id_message_id_key" ON "statuses"("session_id", "message_id");

-- CreateIndex
CREATE INDEX "status_viewers_session_id_idx" ON "status_viewers"("session_id");

-- CreateIndex
CREATE INDEX "status_viewers_status_id_viewed_at_idx" ON "status_viewers"("status_id", "viewed_at");

-- CreateIndex
CREATE INDEX "uploads_expires_at_idx" ON "uploads"("expires_at");

-- AddForeignKey
ALTER TABLE "auth_creds" ADD CONSTRAINT "auth_creds_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "auth_keys" ADD CONSTRAINT "auth_keys_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "statuses" ADD CONSTRAINT "statuses_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "statuses" ADD CONSTRAINT "statuses_upload_id_fkey" FOREIGN KEY ("upload_id") REFERENCES "uploads"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "status_viewers" ADD CONSTRAINT "status_viewers_status_id_fkey" FOREIGN KEY ("status_id") REFERENCES "statuses"("id") ON DELETE CASCADE ON UPDATE CASCADE;
