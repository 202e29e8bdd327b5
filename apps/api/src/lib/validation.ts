import { AppError } from '@wss/shared'

/** A 400 naming one field, shaped like the schema validator's errors (`body.phoneNumber ...`). */
export function fieldError (field: string, message: string): AppError {
  return new AppError('VALIDATION', `${field} ${message}`, [{ field, message }])
}
