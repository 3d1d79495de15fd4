// wallboard_driver.js: drives the wallboard page in Debian's headless Chromium for
// test_wallboard.sh, through playwright-core (installed by the test from the npm registry; it
// downloads no browser: executablePath is /usr/bin/chromium).
//   node wallboard_driver.js URL
// Then one command per line on stdin, one answer line per command on stdout ("ok ..." or "fail ..."):
//   wait MS JS-EXPRESSION   until the expression, evaluated in the page, is truthy (or MS pass)
//   eval JS-EXPRESSION      its value as JSON
//   shot PATH               a full-page PNG screenshot
//   goto URL                load another page
//   quit
"use strict";
const readline = require("readline");
const { chromium } = require("playwright-core");

async function main() {
  const url = process.argv[2];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (e) => process.stderr.write("page error: " + e.message + "\n"));
  await page.goto(url);
  console.log("ok loaded");
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, ...rest] = line.split(" ");
    try {
      if (cmd === "wait") {
        const ms = Number(rest[0]), expr = rest.slice(1).join(" ");
        const deadline = Date.now() + ms;
        let v;
        for (;;) {
          v = await page.evaluate(expr).catch((e) => "error: " + e.message);
          if (v && !(typeof v === "string" && v.startsWith("error: "))) break;
          if (Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        console.log((v && !(typeof v === "string" && v.startsWith("error: ")) ? "ok " : "fail ") + JSON.stringify(v));
      } else if (cmd === "eval") {
        console.log("ok " + JSON.stringify(await page.evaluate(rest.join(" "))));
      } else if (cmd === "shot") {
        await page.screenshot({ path: rest.join(" "), fullPage: true });
        console.log("ok " + rest.join(" "));
      } else if (cmd === "goto") {
        await page.goto(rest.join(" "));
        console.log("ok " + rest.join(" "));
      } else if (cmd === "quit") {
        break;
      } else {
        console.log("fail unknown command " + cmd);
      }
    } catch (e) {
      console.log("fail " + JSON.stringify(e.message));
    }
  }
  rl.close();
  await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(0);
}
main().catch((e) => { console.log("fail " + JSON.stringify(e.message)); process.exit(1); });
