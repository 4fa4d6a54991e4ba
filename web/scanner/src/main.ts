/** The gate scanner page: camera, verdict, trust bundle status, scan log. */

import "./style.css";
import { decode, prepareDecoder, startCamera, type CameraLoop } from "./camera";
import { getLang, reasonText, setLang, t, TEXT, type Lang } from "./i18n";
import { addLog, clearLog, countSince, readLog } from "./store";
import { lastSync, loadStored, pinnedRoots, syncParts, SyncError } from "./sync";
import * as hcert from "./verifier";
import { Bundle, STALE_AFTER, unmaskDisplay, Verifier, type Result } from "./verifier";
import { measured, stepMs } from "./verifier/bundle";
import type { JsonObject } from "./verifier/codec";

declare global {
  interface Window {
    /** The verifier library, for diagnostics and the parity test. */
    hcert: typeof hcert;
    /** Timings of the last scan, read by bench/scanner.py. */
    hcertTimings: {
      frameToVerdictMs: number[];
      decodeMs: number[];
      /** From navigation start to ready to scan (bundle loaded from IndexedDB and verified). */
      readyMs: number | null;
      /** The last sync that brought a new bundle: fetch, verify, store. */
      syncMs: number | null;
      /** The last run of each step of syncing, loading and reopening a bundle (ms). */
      steps: Record<string, number>;
    };
  }
}
window.hcert = hcert;
window.hcertTimings = { frameToVerdictMs: [], decodeMs: [], readyMs: null, syncMs: null, steps: stepMs };

const PROVINCES: Record<string, string> = {
  "11": "北京 Beijing", "12": "天津 Tianjin", "13": "河北 Hebei", "14": "山西 Shanxi", "15": "内蒙古 Inner Mongolia",
  "21": "辽宁 Liaoning", "22": "吉林 Jilin", "23": "黑龙江 Heilongjiang", "31": "上海 Shanghai", "32": "江苏 Jiangsu",
  "33": "浙江 Zhejiang", "34": "安徽 Anhui", "35": "福建 Fujian", "36": "江西 Jiangxi", "37": "山东 Shandong",
  "41": "河南 Henan", "42": "湖北 Hubei", "43": "湖南 Hunan", "44": "广东 Guangdong", "45": "广西 Guangxi",
  "46": "海南 Hainan", "50": "重庆 Chongqing", "51": "四川 Sichuan", "52": "贵州 Guizhou", "53": "云南 Yunnan",
  "54": "西藏 Tibet", "61": "陕西 Shaanxi", "62": "甘肃 Gansu", "63": "青海 Qinghai", "64": "宁夏 Ningxia",
  "65": "新疆 Xinjiang",
};

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

let roots: JsonObject[] | null = null;
let bundle: Bundle | null = null;
let verifier: Verifier | null = null;
let camera: CameraLoop | null = null;
let syncProblem: string | null = null;
/** A sync is under way (on the first open there is no bundle yet: say so, not "not synced"). */
let syncing = false;
let lastText = "";
let lastTextAt = 0;
let hideTimer = 0;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function setBundle(b: Bundle | null): void {
  bundle = b;
  verifier = b !== null ? Verifier.fromBundle(b) : null;
  renderProvinces();
  renderTrust();
}

// ---- words ---------------------------------------------------------------------

function renderTexts(): void {
  const lang = getLang();
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t("title")} · hcert`;
  $("title").textContent = t("title");
  $("lang").textContent = t("language");
  $("l-destination").textContent = t("destination");
  $("l-checkpoint").textContent = t("checkpoint");
  const cp = $<HTMLSelectElement>("checkpoint");
  cp.options[0]!.textContent = t("gate");
  cp.options[1]!.textContent = t("highway");
  $("camera").textContent = camera ? t("stopCamera") : t("startCamera");
  $("upload-text").textContent = t("upload");
  $("manual-label").textContent = t("manual");
  $("manual-verify").textContent = t("verify");
  $("log-title").textContent = t("log");
  $("clear-log").textContent = t("clear");
  $("next").textContent = t("next");
  $("v-kind-l").textContent = t("kind");
  $("v-issuer-l").textContent = t("issuer");
  $("v-validity-l").textContent = t("validity");
  renderProvinces();
  renderTrust();
  void renderLog();
}

function renderProvinces(): void {
  const select = $<HTMLSelectElement>("destination");
  const chosen = localStorage.getItem("hcert.destination") ?? "";
  const codes = bundle ? bundle.provinces : [];
  if (chosen && !codes.includes(chosen)) codes.push(chosen);
  select.replaceChildren();
  const none = document.createElement("option");
  none.value = "";
  none.textContent = t("none");
  select.append(none);
  for (const code of codes.sort()) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = `${code} ${PROVINCES[code] ?? ""}`;
    select.append(option);
  }
  select.value = chosen;
  $<HTMLSelectElement>("checkpoint").value = localStorage.getItem("hcert.checkpoint") ?? "gate";
}

function ageText(seconds: number): string {
  const zh = getLang() === "zh";
  if (seconds < 3600) return zh ? `${Math.max(1, Math.floor(seconds / 60))}分钟` : `${Math.max(1, Math.floor(seconds / 60))} min`;
  if (seconds < 2 * 86400) return zh ? `${Math.floor(seconds / 3600)}小时` : `${Math.floor(seconds / 3600)} h`;
  return zh ? `${Math.floor(seconds / 86400)}天` : `${Math.floor(seconds / 86400)} days`;
}

function renderTrust(): void {
  const box = $("trust");
  const text = $("trust-text");
  box.className = "trust";
  if (bundle === null && syncing && syncProblem === null) {
    text.textContent = t("syncing");
    box.dataset.state = "syncing";
    return;
  }
  if (bundle === null) {
    box.classList.add("bad");
    text.textContent = t("noBundle");
    box.dataset.state = "none";
    return;
  }
  const now = nowSeconds();
  const parts = [`${t("bundle")} v${bundle.version} · ${t("bundleAge", ageText(Math.max(0, now - bundle.issuedAt)))}`];
  let state = "fresh";
  if (now >= bundle.expires || now >= bundle.trustListExpires) {
    box.classList.add("bad");
    parts.push(t("bundleExpired"));
    state = "expired";
  } else if (now - bundle.issuedAt > STALE_AFTER) {
    box.classList.add("warn");
    parts.push(t("bundleStale"));
    state = "stale";
  }
  if (syncProblem !== null) {
    parts.push(`${t("syncFailed")}${navigator.onLine ? "" : ` (${t("offline")})`}`);
    if (state === "fresh") box.classList.add("warn");
  }
  box.dataset.state = state;
  text.textContent = parts.join(" · ");
}

async function renderLog(): Promise<void> {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  $("today").textContent = t("today", await countSince(midnight.getTime()));
  const list = $("log-list");
  list.replaceChildren();
  for (const entry of await readLog(20)) {
    const li = document.createElement("li");
    li.className = entry.verdict;
    const time = new Date(entry.t).toLocaleTimeString("zh-CN", { hour12: false });
    li.textContent = `${time} ${entry.verdict} ${entry.code}${entry.jti ? ` ${entry.jti}` : ""}`;
    list.append(li);
  }
}

// ---- verdict -------------------------------------------------------------------

function cst(ts: number): string {
  return new Date((ts + 8 * 3600) * 1000).toISOString().slice(0, 16).replace("T", " ");
}

let audio: AudioContext | null = null;

function signal(accepted: boolean): void {
  try {
    navigator.vibrate?.(accepted ? 120 : [300, 120, 300]);
  } catch {
    /* vibration is optional */
  }
  try {
    audio ??= new AudioContext();
    const notes = accepted ? [880, 1320] : [220, 220];
    notes.forEach((freq, i) => {
      const osc = audio!.createOscillator();
      const gain = audio!.createGain();
      osc.type = accepted ? "sine" : "square";
      osc.frequency.value = freq;
      gain.gain.value = 0.15;
      osc.connect(gain).connect(audio!.destination);
      const start = audio!.currentTime + i * (accepted ? 0.12 : 0.25);
      osc.start(start);
      osc.stop(start + (accepted ? 0.1 : 0.2));
    });
  } catch {
    /* sound is optional */
  }
}

function showVerdict(result: Result): void {
  const box = $("verdict");
  const accepted = result.valid;
  box.className = `verdict ${accepted ? "accept" : "reject"}`;
  box.dataset.valid = String(accepted);
  box.dataset.code = result.code;
  $("verdict-word").textContent = accepted ? "通过 ACCEPT" : "拒绝 REJECT";
  const cert = result.certificate;
  $("v-name").textContent = cert ? cert.name : "";
  $("v-id").textContent = cert ? unmaskDisplay(cert.maskedId) : "";
  $("v-name").setAttribute("aria-label", `${t("name")}: ${cert ? cert.name : "-"}`);
  $("v-id").setAttribute("aria-label", `${t("idNumber")}: ${cert ? unmaskDisplay(cert.maskedId) : "-"}`);
  const details = box.querySelector(".v-details") as HTMLElement;
  details.hidden = cert === null;
  // Nothing of an earlier scan stays on the screen: a refused text shows no certificate's details.
  for (const id of ["v-kind", "v-issuer", "v-validity"]) $(id).textContent = "";
  if (cert) {
    $("v-kind").textContent = cert.kind === "w" ? t("kind_w") : t("kind_f");
    const authority = bundle?.authorities.get(cert.issuer);
    const name = authority ? (getLang() === "zh" ? authority.nameZh : authority.nameEn) : "";
    $("v-issuer").textContent = name ? `${name} (${cert.issuer})` : cert.issuer;
    $("v-validity").textContent = `${cst(cert.nbf)} –\n${cst(cert.exp)} (UTC+8)`;
  }
  const reasons = $("v-reasons");
  reasons.replaceChildren();
  const lines: string[] = [];
  if (!accepted) lines.push(reasonText(result.code));
  for (const rule of result.rules) {
    if (rule.outcome === "PASS") continue;
    const d = rule.description;
    const words = d ? (getLang() === "zh" ? `${d.zh ?? ""} / ${d.en ?? ""}` : `${d.en ?? ""} / ${d.zh ?? ""}`) : "";
    lines.push(`${rule.id}: ${words ? `${words} — ` : ""}${rule.reason}`);
  }
  for (const warning of result.warnings) {
    const key = `warn_${warning}` as keyof typeof TEXT;
    lines.push(key in TEXT ? `⚠ ${t(key)}` : `⚠ ${warning}`);
  }
  for (const line of lines) {
    const li = document.createElement("li");
    li.textContent = line;
    reasons.append(li);
  }
  $("v-code").textContent = accepted ? "" : result.code;
  box.hidden = false;
  // Focus for screen readers and the keyboard, without a focus ring on a touch screen.
  $("next").focus({ focusVisible: false } as FocusOptions);
  window.clearTimeout(hideTimer);
  // Ready for the next scan without a tap: the camera keeps reading and the verdict clears itself.
  hideTimer = window.setTimeout(hideVerdict, accepted ? 6000 : 10000);
  signal(accepted);
}

function hideVerdict(): void {
  $("verdict").hidden = true;
  window.clearTimeout(hideTimer);
}

async function check(text: string, frameTime: number | null): Promise<void> {
  const now = performance.now();
  if (text === lastText && now - lastTextAt < 4000) return;
  lastText = text;
  lastTextAt = now;
  const destination = $<HTMLSelectElement>("destination").value || null;
  const checkpoint = $<HTMLSelectElement>("checkpoint").value;
  let result: Result;
  if (verifier === null) {
    result = {
      valid: false,
      code: "bundle_expired",
      reason: t("noBundle"),
      certificate: null,
      kid: null,
      statusChecked: false,
      warnings: [],
      rules: [],
      destination,
    };
  } else {
    // The device clock: with a bundle, a clock behind the bundle's issue time is refused.
    result = await verifier.verify(text, { destination, checkpoint });
  }
  showVerdict(result);
  if (frameTime !== null) {
    // After the verdict is painted.
    requestAnimationFrame(() => window.hcertTimings.frameToVerdictMs.push(performance.now() - frameTime));
  }
  await addLog({
    t: Date.now(),
    verdict: result.valid ? "ACCEPT" : "REJECT",
    code: result.code,
    jti: result.certificate ? result.certificate.jti : null,
  });
  await renderLog();
}

// ---- trust bundle --------------------------------------------------------------

/** The sync under way: the `online` event, the timer and the start never run two at once. */
let running: Promise<void> | null = null;

function resync(): Promise<void> {
  running ??= syncOnce().finally(() => {
    running = null;
  });
  return running;
}

async function syncOnce(): Promise<void> {
  if (roots === null) roots = await pinnedRoots();
  if (roots === null) {
    syncProblem = "no roots";
    syncing = false;
    renderTrust();
    return;
  }
  syncing = true;
  try {
    const started = performance.now();
    const fresh = await syncParts(roots, bundle);
    syncProblem = null;
    if (fresh !== bundle) {
      window.hcertTimings.syncMs = performance.now() - started;
      roots = fresh.roots;
      setBundle(fresh);
    }
  } catch (e) {
    syncProblem = e instanceof SyncError ? e.message : String(e);
  }
  syncing = false;
  renderTrust();
  if (camera === null) $("status").textContent = bundle ? t("ready") : t("noBundle");
  // What the last sync received on the wire (an unchanged index: one 304), for the guard's data plan and the tests.
  document.body.dataset.syncBytes = String(lastSync.bytes);
  document.body.dataset.syncResponses = String(lastSync.responses);
  document.body.dataset.sync = syncProblem === null ? "ok" : "failed";
  document.body.dataset.syncMessage = syncProblem ?? "";
}

// ---- wiring --------------------------------------------------------------------

async function toggleCamera(): Promise<void> {
  if (camera) {
    camera.stop();
    camera = null;
    $("video").classList.remove("on");
    renderTexts();
    return;
  }
  try {
    $("video").classList.add("on");
    camera = await startCamera(
      $<HTMLVideoElement>("video"),
      (text, frameTime) => void check(text, frameTime),
      (ms) => {
        const d = window.hcertTimings.decodeMs;
        d.push(ms);
        if (d.length > 1000) d.shift();
      },
    );
    $("status").textContent = t("ready");
  } catch (e) {
    $("video").classList.remove("on");
    $("status").textContent = t("cameraError", e instanceof Error ? e.name : String(e));
  }
  renderTexts();
}

/** Compile the QR decoder and register the service worker (which caches the page for offline use). */
function install(): void {
  prepareDecoder();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("./sw.js", { scope: "./" }).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  setLang((localStorage.getItem("hcert.lang") as Lang | null) ?? "zh");
  renderTexts();
  $("lang").addEventListener("click", () => {
    setLang(getLang() === "zh" ? "en" : "zh");
    localStorage.setItem("hcert.lang", getLang());
    renderTexts();
  });
  $("destination").addEventListener("change", (e) => {
    localStorage.setItem("hcert.destination", (e.target as HTMLSelectElement).value);
  });
  $("checkpoint").addEventListener("change", (e) => {
    localStorage.setItem("hcert.checkpoint", (e.target as HTMLSelectElement).value);
  });
  $("camera").addEventListener("click", () => void toggleCamera());
  $("upload").addEventListener("change", async (e) => {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    input.value = "";
    if (!file) return;
    const text = await decode(file);
    if (text === null) $("status").textContent = t("noQr");
    else {
      lastText = "";
      await check(text, null);
    }
  });
  $("manual-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $<HTMLTextAreaElement>("manual").value.trim();
    if (text) {
      lastText = "";
      void check(text, null);
    }
  });
  $("next").addEventListener("click", hideVerdict);
  $("verdict").addEventListener("keydown", (e) => {
    if (e.key === "Escape") hideVerdict();
  });
  $("clear-log").addEventListener("click", async () => {
    await clearLog();
    await renderLog();
  });

  window.addEventListener("hcert-store-blocked", () => {
    $("status").textContent = t("closeOtherTabs");
    document.body.dataset.storeBlocked = "1";
  });
  const opening = performance.now();
  // The first sync starts right after this; until it ends, no bundle means "syncing".
  syncing = navigator.onLine;
  roots = await pinnedRoots();
  measured("roots", opening);
  setBundle(await loadStored());
  document.body.dataset.ready = "1";
  window.hcertTimings.readyMs = performance.now();
  $("status").textContent = bundle ? t("ready") : syncing ? t("syncing") : t("noBundle");
  // The decoder's WebAssembly (1 MB) compiles and the service worker caches the page's
  // files after the page is ready; on a first open, after the first sync, which they
  // would otherwise share the phone's CPU with (a scan cannot be verified before it).
  const installNow = bundle !== null;
  if (installNow) install();
  window.addEventListener("online", () => void resync());
  window.setInterval(() => void resync(), 10 * 60 * 1000);
  window.setInterval(renderTrust, 60 * 1000);
  await resync();
  if (!installNow) install();
  if (new URLSearchParams(location.search).has("camera")) await toggleCamera();
}

void main();
