// Records every request (method, url, headers, JSON body) to OUT and answers from SCRIPT: a list of
// {status?, headers?, body | bodyBase64, match?}; entries with `match` answer any URL containing it.
// Usage: node server.mjs PORT SCRIPT OUT
import http from "node:http";
import fs from "node:fs";
const [,, port, scriptFile, outFile] = process.argv;
const script = JSON.parse(fs.readFileSync(scriptFile, "utf8")); // list of {status, headers, body(string)|bodyBase64}
let i = 0;
const log = [];
http.createServer((req, res) => {
  let chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks).toString("utf8");
    let body; try { body = JSON.parse(raw); } catch { body = raw; }
    log.push({ method: req.method, url: req.url, headers: req.headers, body });
    fs.writeFileSync(outFile, JSON.stringify(log, null, 2));
    const r = script.find((s) => s.match && req.url.includes(s.match)) ?? script.filter((s) => !s.match)[Math.min(i, script.filter((s) => !s.match).length - 1)];
    if (!r.match) i++;
    res.writeHead(r.status ?? 200, r.headers ?? {});
    res.end(r.bodyBase64 ? Buffer.from(r.bodyBase64, "base64") : r.body);
  });
}).listen(Number(port), "127.0.0.1");
