// Registers tests/_ts_loader.mjs: `node --import ./tests/_ts_register.mjs file.ts`.
import { register } from "node:module";
register("./_ts_loader.mjs", import.meta.url);
process.setSourceMapsEnabled?.(true);
