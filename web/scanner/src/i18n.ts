/** The page's words in Chinese (default) and English; failure codes explained in both. */

export type Lang = "zh" | "en";

export const TEXT = {
  title: { zh: "健康证明核验", en: "Certificate scanner" },
  accept: { zh: "通过", en: "ACCEPT" },
  reject: { zh: "拒绝", en: "REJECT" },
  startCamera: { zh: "打开摄像头", en: "Start camera" },
  stopCamera: { zh: "关闭摄像头", en: "Stop camera" },
  upload: { zh: "识别图片", en: "Read a photo" },
  manual: { zh: "手动输入", en: "Type the code" },
  verify: { zh: "核验", en: "Verify" },
  destination: { zh: "目的地省份", en: "Destination province" },
  checkpoint: { zh: "卡口类型", en: "Checkpoint" },
  gate: { zh: "厂门/社区", en: "Gate" },
  highway: { zh: "公路卡口", en: "Highway" },
  none: { zh: "不按目的地规则", en: "No destination rules" },
  bundle: { zh: "信任包", en: "Trust bundle" },
  noBundle: { zh: "尚未同步信任包：请联网打开一次", en: "No trust bundle yet: open once while online" },
  syncing: { zh: "正在同步信任包…", en: "Syncing the trust bundle…" },
  bundleAge: { zh: "更新于{0}前", en: "updated {0} ago" },
  bundleStale: { zh: "已超过48小时未更新，请尽快联网同步", en: "older than 48 h: sync soon" },
  bundleExpired: { zh: "信任包已过期，无法核验：请联网同步", en: "the bundle has expired: sync before verifying" },
  syncFailed: { zh: "同步失败，继续使用上次的信任包", en: "sync failed; the last good bundle is kept" },
  offline: { zh: "离线", en: "offline" },
  ready: { zh: "可以扫码", en: "Ready to scan" },
  closeOtherTabs: {
    zh: "请关闭其他打开的核验页面，本页即可继续",
    en: "Close the other tabs with this scanner open; this one then goes on",
  },
  log: { zh: "本机核验记录", en: "Scan log on this device" },
  today: { zh: "今日核验 {0} 次", en: "{0} scans today" },
  clear: { zh: "清空记录", en: "Clear log" },
  kind: { zh: "证明类型", en: "Kind" },
  issuer: { zh: "签发机构", en: "Issued by" },
  validity: { zh: "有效期", en: "Valid" },
  name: { zh: "姓名", en: "Name" },
  idNumber: { zh: "身份证号", en: "ID number" },
  reasons: { zh: "原因", en: "Reasons" },
  next: { zh: "继续扫码", en: "Next scan" },
  cameraError: { zh: "无法打开摄像头：{0}", en: "cannot open the camera: {0}" },
  noQr: { zh: "图片中未找到二维码", en: "no QR code found in the image" },
  language: { zh: "English", en: "中文" },
  kind_w: { zh: "返岗复工健康证明", en: "Return-to-work health certificate" },
  kind_f: { zh: "货运人员检测证明", en: "Freight test certificate" },
  warn_bundle_stale: { zh: "信任包超过48小时未更新", en: "trust bundle older than 48 h" },
  warn_clock_before_bundle: { zh: "本机时间早于信任包签发时间，请检查时钟", en: "device clock is before the bundle: check it" },
  warn_status_list_expired: { zh: "撤销状态清单已过期", en: "revocation list out of date" },
  warn_status_not_checked: { zh: "未能检查撤销状态", en: "revocation status not checked" },
} as const;

/** Every failure code in words, Chinese and English. */
export const REASONS: Record<string, { zh: string; en: string }> = {
  input_too_large: { zh: "内容过长，不是健康证明", en: "input too large to be a certificate" },
  bad_qr_prefix: { zh: "不是健康证明二维码", en: "not an hcert QR code" },
  bad_qr_digits: { zh: "二维码内容损坏", en: "QR digits are damaged" },
  malformed_token: { zh: "证明格式错误", en: "malformed token" },
  bad_base64: { zh: "证明编码错误", en: "bad base64url" },
  bad_json: { zh: "证明内容无法解析", en: "content is not valid JSON" },
  duplicate_json_key: { zh: "证明内容有重复字段", en: "a JSON member is repeated" },
  forbidden_header: { zh: "证明试图自带密钥", en: "the token tries to name its own key" },
  alg_not_allowed: { zh: "签名算法不被接受", en: "signature algorithm not allowed" },
  crit_unsupported: { zh: "不支持的关键扩展", en: "crit is not supported" },
  unknown_header: { zh: "证明头部含未知字段", en: "unknown header parameter" },
  bad_typ: { zh: "不是健康证明类型", en: "wrong typ" },
  bad_zip: { zh: "压缩方式错误", en: "wrong zip" },
  bad_kid: { zh: "密钥标识错误", en: "bad key id" },
  unknown_key: { zh: "签发密钥不在信任清单中", en: "the signing key is not on the trust list" },
  bad_signature: { zh: "签名无效（可能被篡改）", en: "signature invalid (tampered?)" },
  signature_not_canonical: { zh: "签名不规范", en: "signature not canonical (high s)" },
  decompression_failed: { zh: "证明内容解压失败", en: "payload does not inflate" },
  payload_too_large: { zh: "证明内容过大", en: "payload too large" },
  bad_claims: { zh: "证明内容不合规", en: "the certificate's contents are invalid" },
  key_withdrawn: { zh: "签发密钥已撤回，需重新办理", en: "the signing key was withdrawn; re-issue" },
  unknown_issuer: { zh: "签发机构与密钥不符", en: "key does not belong to the issuer" },
  key_not_valid_at_issue: { zh: "签发时密钥不在有效期", en: "key not valid at issue time" },
  out_of_scope: { zh: "签发机构无权签发此证明", en: "the authority may not issue this certificate" },
  issued_in_future: { zh: "签发时间晚于当前时间", en: "issued after the current time" },
  not_yet_valid: { zh: "证明尚未生效", en: "the certificate is not valid yet" },
  expired: { zh: "证明已过期", en: "the certificate has expired" },
  revoked: { zh: "证明已被撤销", en: "the certificate was revoked" },
  suspended: { zh: "证明已被暂停", en: "the certificate is suspended" },
  status_unavailable: { zh: "无法检查撤销状态", en: "revocation status unavailable" },
  bundle_expired: { zh: "信任包已过期，请联网同步", en: "trust bundle expired; sync" },
  trust_list_expired: { zh: "信任列表已过期，请联网同步", en: "the trust list has expired; sync" },
  clock_before_bundle: { zh: "本机时间早于信任包签发时间，请校正时钟", en: "the device clock is behind the trust bundle: set the clock" },
  status_list_expired: { zh: "撤销状态清单已过期，请联网同步", en: "the revocation list is out of date: sync" },
  rules_unavailable: { zh: "目的地无核验规则", en: "no rules for this destination and checkpoint" },
  rejected_by_rules: { zh: "不符合目的地规则", en: "rejected by the destination's rules" },
};

let lang: Lang = "zh";

export function setLang(value: Lang): void {
  lang = value;
}

export function getLang(): Lang {
  return lang;
}

/** The text for `key` in the current language, with {0}, {1} filled in. */
export function t(key: keyof typeof TEXT, ...args: (string | number)[]): string {
  return TEXT[key][lang].replace(/\{(\d)\}/g, (_, i: string) => String(args[Number(i)] ?? ""));
}

/** A failure code as "中文 / English", Chinese first by default. */
export function reasonText(code: string): string {
  const r = REASONS[code];
  if (r === undefined) return code;
  return lang === "zh" ? `${r.zh} / ${r.en}` : `${r.en} / ${r.zh}`;
}
