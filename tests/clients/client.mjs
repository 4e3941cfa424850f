// The browser `fetch` flow of the reference documentation, run by Node.
// Usage: node client.mjs API_URL SKILLS_DIR SKILL_ZIP
import { readFile } from "node:fs/promises";

const [api, skills, archive] = process.argv.slice(2);

const scanned = await fetch(`${api}/scan`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ skill_directory: `${skills}/clean`, policy: "balanced" }),
});
if (!scanned.ok) throw new Error(`scan answered ${scanned.status}`);
const result = await scanned.json();
if (result.is_safe !== true) throw new Error(`unexpected verdict ${JSON.stringify(result)}`);

const form = new FormData();
form.append("file", new Blob([await readFile(archive)], { type: "application/zip" }), "skill.zip");
form.append("policy", "strict");
const uploaded = await fetch(`${api}/scan-upload`, { method: "POST", body: form });
if (!uploaded.ok) throw new Error(`upload answered ${uploaded.status}`);
const verdict = await uploaded.json();
console.log(verdict.skill_name, verdict.max_severity, verdict.findings_count);

const missing = await fetch(`${api}/scan`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ skill_directory: `${skills}/none` }),
});
const detail = (await missing.json()).detail;
if (missing.status !== 404 || detail !== "skill_directory not found") {
  throw new Error(`missing folder answered ${missing.status} ${detail}`);
}
