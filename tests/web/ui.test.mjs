// Browser test of the sdpp web UI: starts the real `sdpp serve` with the tiny fixture models, drives headless
// Debian chromium through playwright-core, and checks what a user sees: the live preview changing as events arrive,
// the finished image in the gallery with its parameters, seed re-use, an inpainting job from an uploaded image and a
// painted mask, cancelling a running job, and a phone-sized layout. Saves screenshots.
//
//   SDPP_BINARY=build/app/sdpp SDPP_FIXTURES=../shared/fixtures/tiny node tests/web/ui.test.mjs [--out DIR]
//
// Exits 0 when every check passed, 1 with the failing check otherwise.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const binary = process.env.SDPP_BINARY;
const fixtures = process.env.SDPP_FIXTURES;
const outIndex = process.argv.indexOf("--out");
const outDir = resolve(outIndex > 0 ? process.argv[outIndex + 1] : process.env.SDPP_WEB_OUT || "web-artifacts");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!binary || !fixtures) {
  console.error("set SDPP_BINARY (the sdpp executable) and SDPP_FIXTURES (the tiny fixture folder)");
  process.exit(2);
}

function check(condition, message) {
  if (!condition) throw new Error("check failed: " + message);
  console.log("ok -", message);
}

// Starts `sdpp serve --port 0` and resolves with its port once /ready answers 200.
function startServer() {
  const args = ["serve", "--port", "0", "--sse-keepalive", "1", "--shutdown-grace", "1",
                "--models", join(fixtures, "models", "sd15"), "--models", join(fixtures, "models", "sd15_inpaint")];
  const proc = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => { log += d; });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error("sdpp serve did not start: " + log)), 60000);
    proc.on("exit", (code) => reject(new Error(`sdpp serve exited (${code}): ${log}`)));
    proc.stdout.on("data", async (d) => {
      const m = String(d).match(/listening on http:\/\/[^:]+:(\d+)/);
      if (!m) return;
      const port = Number(m[1]);
      for (let i = 0; i < 600; i++) {
        try {
          if ((await fetch(`http://127.0.0.1:${port}/ready`)).status === 200) {
            clearTimeout(timer);
            resolveStart({ proc, port, log: () => log });
            return;
          }
        } catch { /* not accepting yet */ }
        await new Promise((r) => setTimeout(r, 100));
      }
    });
  });
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  const server = await startServer();
  const base = `http://127.0.0.1:${server.port}`;
  const profile = mkdtempSync(join(tmpdir(), "sdpp-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  const externalRequests = [];
  context.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) externalRequests.push(r.url()); });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(base + "/");
    await page.waitForFunction(() => document.getElementById("server-state").textContent === "ready", null, { timeout: 30000 });
    await page.waitForFunction(() => document.querySelectorAll("#model option").length === 2);
    check(true, "the page loads and lists the models");

    // 1. txt2img: the preview replaces itself as events arrive, then the image lands in the gallery.
    // The page follows a job's events once its POST has answered; a job that ran ahead of that (24 tiny steps take
    // under a second) left it only the last previews, so the check below failed on busy machines. A long job holds
    // the queue until the page shows the queued event (its stream is live), and is then cancelled.
    const blocker = await (await fetch(`${base}/v1/jobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prompt: "hold the queue", model: "sd15", width: 128, height: 128, steps: 150 }),
    })).json();
    await page.evaluate(() => {
      window.previewSources = [];
      new MutationObserver(() => window.previewSources.push(document.getElementById("preview").src))
        .observe(document.getElementById("preview"), { attributes: true, attributeFilter: ["src"] });
    });
    await page.fill("#prompt", "a lighthouse at dawn, watercolor");
    await page.fill("#negative", "blurry");
    await page.selectOption("#model", "sd15");
    await page.selectOption("#sampler", "euler");
    await page.fill("#width", "128");
    await page.fill("#height", "128");
    await page.fill("#steps", "24");
    await page.fill("#preview-every", "1");
    await page.click("#generate");
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("queued: position"),
                               null, { timeout: 60000 });
    check(true, "the page shows its job's place in the queue behind a running job");
    const dropped = await fetch(`${base}/v1/jobs/${blocker.id}`, { method: "DELETE" });
    check(dropped.ok, `the job holding the queue was cancelled (${dropped.status})`);
    await page.waitForSelector("#gallery figure.result img[src^='blob:']", { timeout: 120000 });
    const previews = await page.evaluate(() => window.previewSources);
    const distinct = new Set(previews).size;
    check(distinct >= 2, `the live preview changed ${distinct} times (at least twice)`);
    check(previews.every((s) => s.startsWith("data:image/png;base64,")), "previews are PNG data URIs");
    const caption = await page.textContent("#gallery figure.result figcaption");
    check(/Seed: \d+/.test(caption) && caption.includes("a lighthouse at dawn"), "the gallery shows the parameters");
    const status = await page.textContent("#status");
    check(status.startsWith("done"), `the status line reads '${status}'`);
    const seed = caption.match(/Seed: (\d+)/)[1];
    await page.click("#reuse-seed");
    check((await page.inputValue("#seed")) === seed, "'Last seed' re-uses the seed of the last image");
    const natural = await page.evaluate(() => {
      const img = document.querySelector("#gallery figure.result img");
      return [img.naturalWidth, img.naturalHeight];
    });
    check(natural[0] === 128 && natural[1] === 128, "the gallery image is the requested 128x128");
    await page.screenshot({ path: join(outDir, "ui-generated.png"), fullPage: true });

    // 2. Inpainting: upload a source image, paint a mask, choose the inpainting model.
    const first = await page.evaluate(async () => {
      const img = document.querySelector("#gallery figure.result img");
      const blob = await (await fetch(img.src)).blob();
      return Array.from(new Uint8Array(await blob.arrayBuffer()));
    });
    const sourcePath = join(profile, "source.png");
    writeFileSync(sourcePath, Buffer.from(first));
    await page.click("#img2img summary");
    await page.setInputFiles("#init-file", sourcePath);
    await page.waitForSelector("#painter:not([hidden])");
    await page.locator("#mask-canvas").scrollIntoViewIfNeeded();
    const box = await page.locator("#mask-canvas").boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.6, { steps: 8 });
    await page.mouse.up();
    check(await page.isChecked("#use-mask"), "painting turns inpainting on");
    const painted = await page.evaluate(() => {
      const c = document.getElementById("mask-canvas");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let white = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 128) white++;
      return white / (d.length / 4);
    });
    check(painted > 0.02 && painted < 0.9, `the mask has a painted area (${(painted * 100).toFixed(1)}%)`);
    await page.selectOption("#model", "sd15_inpaint");
    await page.fill("#steps", "6");
    await page.click("#generate");
    await page.waitForFunction(() => document.querySelectorAll("#gallery figure.result img[src^='blob:']").length >= 2,
                               null, { timeout: 120000 });
    const inpaintId = await page.getAttribute("#jobs li.job", "data-id");
    const inpaintJob = await (await fetch(`${base}/v1/jobs/${inpaintId}`)).json();
    check(inpaintJob.params.mode === "inpaint" && inpaintJob.params.model === "sd15_inpaint",
          "the uploaded image and painted mask made an inpainting job: " + JSON.stringify(inpaintJob.params));
    check(inpaintJob.status === "succeeded", "the inpainting job succeeded");
    await page.click("#remove-image");

    // 3. Cancel a running job with the Cancel button.
    await page.selectOption("#model", "sd15");
    await page.fill("#steps", "150");
    await page.fill("#seed", "");
    await page.click("#generate");
    await page.waitForSelector("#jobs li.job[data-status='running']", { timeout: 60000 });
    const runningId = await page.getAttribute("#jobs li.job[data-status='running']", "data-id");
    await page.click("#cancel");
    await page.waitForSelector(`#jobs li.job[data-id='${runningId}'][data-status='cancelled']`, { timeout: 60000 });
    const cancelled = await (await fetch(`${base}/v1/jobs/${runningId}`)).json();
    check(cancelled.status === "cancelled" && cancelled.progress.step < 150, `the running job was cancelled at step ${cancelled.progress.step}`);
    check(await page.isDisabled("#cancel"), "nothing is left to cancel");
    await page.screenshot({ path: join(outDir, "ui-desktop.png"), fullPage: true });

    // 4. Phone-sized screen: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `no horizontal scrolling on a 390px screen (overflow ${overflow}px)`);
    const formBox = await page.locator("#form").boundingBox();
    const liveBox = await page.locator("#live").boundingBox();
    check(liveBox.y >= formBox.y + formBox.height - 1, "the form stacks above the preview on a phone");
    await page.screenshot({ path: join(outDir, "ui-phone.png"), fullPage: true });

    check(pageErrors.length === 0, "no JavaScript errors: " + pageErrors.join("; "));
    check(externalRequests.length === 0, "nothing is loaded from outside the server: " + externalRequests.join(", "));
    console.log(`screenshots in ${outDir}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    server.proc.kill("SIGTERM");
    await new Promise((r) => server.proc.on("exit", r));
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e.message);
  process.exit(1);
});
