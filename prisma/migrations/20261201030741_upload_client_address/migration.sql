-- AlterTable
ALTER TABLE "uploads" ADD COLUMN     "client_address" TEXT;

-- CreateIndex
CREATE INDEX "uploads_client_address_created_at_idx" ON "uploads"("client_address", "created_at");
