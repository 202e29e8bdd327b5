-- AlterTable
ALTER TABLE "statuses" ADD COLUMN     "audience_size" INTEGER,
ADD COLUMN     "audience_spec" JSONB,
ADD COLUMN     "skipped" INTEGER;

-- CreateTable
CREATE TABLE "contacts" (
    "session_id" VARCHAR(64) NOT NULL,
    "phone" TEXT NOT NULL,
    "lid" TEXT,
    "name" TEXT,
    "push_name" TEXT,
    "in_address_book" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "contacts_pkey" PRIMARY KEY ("session_id","phone")
);

-- CreateTable
CREATE TABLE "audience_lists" (
    "id" UUID NOT NULL,
    "session_id" VARCHAR(64) NOT NULL,
    "name" TEXT NOT NULL,
    "numbers" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "audience_lists_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "contacts_session_id_updated_at_idx" ON "contacts"("session_id", "updated_at");

-- CreateIndex
CREATE INDEX "contacts_session_id_lid_idx" ON "contacts"("session_id", "lid");

-- CreateIndex
CREATE INDEX "audience_lists_session_id_created_at_idx" ON "audience_lists"("session_id", "created_at" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "audience_lists_session_id_name_key" ON "audience_lists"("session_id", "name");

-- AddForeignKey
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "audience_lists" ADD CONSTRAINT "audience_lists_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
