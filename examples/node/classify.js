#!/usr/bin/env node
// Classify a failed-status webhook with the WhatsApp delivery-error service, from Node.js.
//
//   npm install                         (once, in this folder)
//   node classify.js ../webhook.json    (or - for stdin; target from WAERR_TARGET or --target)
//
// Prints one line per error: message id, code, what to do, and the wait before a resend.
// The channel takes its retry, load-balancing, keepalive and size settings from the JSON files
// published beside the proto (service_config.json, channel_options.json): the same ones the
// Python client loads, so both retry the same status codes and balance round-robin.
// Exit codes: 0 ok, 1 the call failed (one line on stderr), 2 usage error.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");
const PUBLISHED = path.join(PROTOS, "whatsapp", "errors", "v1");
const DEFAULT_TARGET = "127.0.0.1:50051";

function usage(message) {
  process.stderr.write(`classify.js: ${message}\n`);
  process.stderr.write("usage: node classify.js [--target HOST:PORT] [--repeat N] FILE|-\n");
  process.exit(2);
}

function parseArgs(argv) {
  const args = { target: process.env.WAERR_TARGET || DEFAULT_TARGET, repeat: 1, file: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--target") args.target = argv[++i];
    else if (argv[i] === "--repeat") args.repeat = Number(argv[++i]);
    else if (args.file === null) args.file = argv[i];
    else usage(`unexpected argument ${argv[i]}`);
  }
  if (!args.file) usage("no webhook file given");
  if (!Number.isInteger(args.repeat) || args.repeat < 1) usage("--repeat takes a positive count");
  return args;
}

// The generated-code-free way: load the .proto at run time. keepCase keeps the proto's
// snake_case field names (error_info, message_id), as the JSON mapping and grpcurl show them.
function loadService() {
  const definition = protoLoader.loadSync(path.join(PUBLISHED, "error_catalog.proto"), {
    includeDirs: [PROTOS, path.join(PROTOS, "third_party")],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).whatsapp.errors.v1.ErrorCatalogService;
}

// The published channel policy as grpc-js channel options.
function channelOptions() {
  const serviceConfig = fs.readFileSync(path.join(PUBLISHED, "service_config.json"), "utf8");
  const options = JSON.parse(fs.readFileSync(path.join(PUBLISHED, "channel_options.json"), "utf8"));
  return { ...options, "grpc.service_config": JSON.stringify(JSON.parse(serviceConfig)) };
}

function strategyLabel(strategy) {
  return strategy.replace(/^RETRY_STRATEGY_/, "").toLowerCase();
}

function waitLabel(classification) {
  const info = classification.error_info;
  if (!info.retryable) return "-";
  const stated = classification.retry_after || info.retry_after;
  return stated ? `${Number(stated.seconds)}s` : "0s";
}

function classify(client, payload) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 10_000);
    client.Classify({ payload }, { deadline }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const payload = fs.readFileSync(args.file === "-" ? 0 : args.file);
  const Service = loadService();
  const client = new Service(args.target, grpc.credentials.createInsecure(), channelOptions());
  try {
    for (let i = 0; i < args.repeat; i++) {
      const response = await classify(client, payload);
      if (i > 0) continue;
      for (const c of response.classifications) {
        const id = c.context.message_id || "-";
        const what = strategyLabel(c.error_info.retry_strategy);
        process.stdout.write(`${id} ${c.error_info.code} ${what} ${waitLabel(c)}\n`);
      }
    }
  } catch (error) {
    const code = grpc.status[error.code] || error.code;
    process.stderr.write(`classify.js: ${code}: ${error.details || error.message}\n`);
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

main();
