-- AlterEnum
ALTER TYPE "status_type" ADD VALUE 'audio';

-- AlterEnum
ALTER TYPE "upload_kind" ADD VALUE 'audio';

-- AlterTable
ALTER TABLE "uploads" ADD COLUMN     "seconds" INTEGER,
ADD COLUMN     "waveform" BYTEA;
