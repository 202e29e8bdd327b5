// The queue dashboard in a real browser (Debian's Chromium, driven by playwright-core) against the
// whole stack: login, the live worker's queue, a job the worker failed for good, retry, logout.
import t from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { chromium, type Page } from 'playwright-core'
import { redisKeys, workerQueueName } from '@wss/shared'
import { eventually, startStack } from '../src/stack.ts'

const CHROMIUM = '/usr/bin/chromium'
const BOARD = '/admin/queues'
const artifacts = new URL('../.artifacts/', import.meta.url)

/** The tooltips of the job card's action buttons (Retry, Duplicate, Update Data, Clean), as a user hovering them sees; call once the card shows. */
async function jobActions (page: Page): Promise<string[]> {
  const buttons = page.locator('[class*="jobActions"] button')
  const tips = page.locator('[role=tooltip]:visible, [class*="popup"]:visible')
  const names: string[] = []
  for (let i = 0; i < await buttons.count(); i++) {
    await buttons.nth(i).hover()
    await tips.first().waitFor({ timeout: 10_000 })
    names.push((await tips.first().innerText()).trim())
    // Away, so the next button's tooltip is the only one shown.
    await page.mouse.move(0, 0)
    await tips.first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => undefined)
  }
  return names
}

async function logIn (page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}${BOARD}`)
  await page.waitForURL(`${url}${BOARD}/login`, { timeout: 30_000 })
  await page.fill('#key', key)
  await page.click('button[type=submit]')
  await page.waitForURL(`${url}${BOARD}`, { timeout: 30_000 })
}

t.test('the queue dashboard in a browser: login, a failed job, retry, read-only, logout', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (scripts/ensure-packages.sh chromium installs Debian's chromium)` }, async t => {
  const stack = await startStack(t, { apis: 1, workers: 1, env: { QUEUE_BOARD_READ_ONLY: 'false' } })
  const readOnlyApi = await stack.addApi({ QUEUE_BOARD_READ_ONLY: 'true' })
  const url = stack.apis[0]!.url
  const workerId = stack.workers[0]!.id
  const queueName = workerQueueName(workerId)

  // A command job the worker cannot parse: the real worker fails it for good (UnrecoverableError).
  const connection = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 })
  const queue = new Queue(queueName, { connection, prefix: redisKeys(stack.prefix).bull })
  t.teardown(async () => { await queue.close(); connection.disconnect() })
  await queue.add('start-session', { sessionId: 'no-payload' }, { jobId: 'broken-1' })
  t.ok(await eventually(async () => (await queue.getJobState('broken-1')) === 'failed', 30_000, 200), 'the worker failed the job')

  const browser = await chromium.launch({ executablePath: CHROMIUM })
  t.teardown(() => browser.close())
  const page = await browser.newPage()

  // Not logged in: the board sends the browser to the login form; a wrong key stays there.
  await page.goto(`${url}${BOARD}/login`)
  await page.fill('#key', 'not-the-key')
  await page.click('button[type=submit]')
  t.match(await page.locator('[role=alert]').innerText(), /not an admin API key/)

  await logIn(page, url, stack.apiKey)
  await page.getByText(queueName).first().waitFor({ timeout: 30_000 })
  t.pass('the board lists the live worker\'s command queue')

  await page.goto(`${url}${BOARD}/queue/${queueName}?status=failed`)
  await page.getByText('invalid command job').first().waitFor({ timeout: 30_000 })
  mkdirSync(artifacts, { recursive: true })
  const screenshot = new URL('queue-board.png', artifacts).pathname
  await page.screenshot({ path: screenshot, fullPage: true })
  t.ok(existsSync(screenshot), `screenshot written: ${screenshot}`)
  t.ok((await jobActions(page)).includes('Retry'), 'the failed job has a Retry button')
  await page.locator('[class*="jobActions"] button').first().click()
  await page.getByRole('button', { name: 'Confirm' }).click()
  // The worker ran it again (and, the job being unparseable, failed it again).
  t.ok(await eventually(async () => (await queue.getJob('broken-1'))?.attemptsStarted === 2 &&
    (await queue.getJobState('broken-1')) === 'failed', 30_000, 200), 'the retry ran the job a second time')

  // Read-only node: the same failed job, no Retry.
  const roPage = await (await browser.newContext()).newPage()
  await logIn(roPage, readOnlyApi.url, stack.apiKey)
  await roPage.goto(`${readOnlyApi.url}${BOARD}/queue/${queueName}?status=failed`)
  await roPage.getByText('invalid command job').first().waitFor({ timeout: 30_000 })
  await roPage.screenshot({ path: new URL('queue-board-read-only.png', artifacts).pathname, fullPage: true })
  t.notOk((await jobActions(roPage)).includes('Retry'), 'no Retry button in read-only mode')
  t.equal(await roPage.getByText('Retry all').count(), 0, 'no Retry all either')

  // Logging out (the "Log out" link in the board's user menu) refuses the board afterwards.
  await page.goto(`${url}${BOARD}`)
  await page.locator('button[aria-haspopup=menu]').last().click()
  await page.getByText('Log out').click()
  await page.waitForURL(/\/login\?loggedOut=1$/, { timeout: 30_000 })
  await page.goto(`${url}${BOARD}/queue/${queueName}`)
  t.match(page.url(), new RegExp(`${BOARD}/login$`), 'the board sends the browser back to the login form')
  const api = await page.request.get(`${url}${BOARD}/api/queues`)
  t.equal(api.status(), 401, 'and its API answers 401')
})
