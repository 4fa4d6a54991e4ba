/**
 * The rear camera and the QR decoder: ZXing C++ compiled to WebAssembly
 * (zxing-wasm), its .wasm served by this app, never fetched from a CDN.
 */

import { prepareZXingModule, readBarcodes, type ReaderOptions } from "zxing-wasm/reader";
import wasmUrl from "zxing-wasm/reader/zxing_reader.wasm?url";

let prepared = false;

/** Point zxing-wasm at the .wasm this app serves (same origin) and start loading it. */
export function prepareDecoder(): void {
  if (prepared) return;
  prepared = true;
  prepareZXingModule({
    overrides: {
      locateFile: (path: string, prefix: string) => (path.endsWith(".wasm") ? new URL(wasmUrl, location.href).href : prefix + path),
    },
    fireImmediately: true,
  });
}

const OPTIONS: ReaderOptions = {
  formats: ["QRCode"],
  tryHarder: true,
  maxNumberOfSymbols: 1,
};

/** Decode the first QR code in an image (ImageData or an image file); null if none. */
export async function decode(image: ImageData | Blob): Promise<string | null> {
  prepareDecoder();
  const results = await readBarcodes(image, OPTIONS);
  const hit = results.find((r) => r.isValid && r.text);
  return hit ? hit.text : null;
}

export interface CameraLoop {
  stop(): void;
}

/**
 * Open the rear camera into `video` and decode frames until stopped; each
 * decoded text goes to `onText` with the time the frame was grabbed.
 */
export async function startCamera(
  video: HTMLVideoElement,
  onText: (text: string, frameTime: number) => void,
  onFrame?: (decodeMs: number) => void,
): Promise<CameraLoop> {
  prepareDecoder();
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
  });
  video.srcObject = stream;
  video.muted = true;
  video.setAttribute("playsinline", "");
  await video.play();
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  let running = true;
  const tick = async (): Promise<void> => {
    while (running) {
      const w = video.videoWidth;
      const h = video.videoHeight;
      if (w && h) {
        // Decode at most 960 px wide: enough for a version-15 code filling a third of the frame.
        const scale = Math.min(1, 960 / w);
        canvas.width = Math.round(w * scale);
        canvas.height = Math.round(h * scale);
        const grabbed = performance.now();
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        const text = await decode(ctx.getImageData(0, 0, canvas.width, canvas.height));
        onFrame?.(performance.now() - grabbed);
        if (text !== null) onText(text, grabbed);
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  void tick();
  return {
    stop() {
      running = false;
      for (const track of stream.getTracks()) track.stop();
      video.srcObject = null;
    },
  };
}
