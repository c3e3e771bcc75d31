/**
 * Questions on the terminal. Prompts go to standard error so that standard
 * output carries only results. When standard input is not a terminal
 * (a pipe, a file, a test), each answer is the next line of input, so
 * `printf 'example.org\nbot\nsecret\n' | niobot login` works.
 */
import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { CliError } from "./common.js";

/** Where a {@link Prompter} reads answers and writes questions. */
export interface PromptStreams {
  input: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  output: Writable;
}

/**
 * Asks questions, one at a time, on a terminal or over piped input.
 *
 * @example
 * const prompter = new Prompter();
 * try {
 *   const user = await prompter.ask("User: ");
 *   const password = await prompter.secret("Password: ");
 * } finally {
 *   prompter.close();
 * }
 */
export class Prompter {
  readonly #input: PromptStreams["input"];
  readonly #output: Writable;
  /** Piped input: one reader for every question, so lines buffered by one question are not lost to the next. */
  #lines: AsyncIterator<string> | undefined;
  #reader: Interface | undefined;

  constructor(streams: PromptStreams = { input: process.stdin, output: process.stderr }) {
    this.#input = streams.input;
    this.#output = streams.output;
  }

  /** Whether answers are typed by a person (and a secret can be hidden). */
  get interactive(): boolean {
    return this.#input.isTTY === true && typeof this.#input.setRawMode === "function";
  }

  /**
   * Asks a question and returns the trimmed answer; an empty answer gives
   * `defaultValue` when there is one.
   *
   * @throws {CliError} when input ends before an answer.
   */
  async ask(question: string, defaultValue?: string): Promise<string> {
    const shown = defaultValue ? `${question.replace(/:\s*$/, "")} [${defaultValue}]: ` : question;
    const answer = (await this.#readLine(shown, false)).trim();
    return answer === "" && defaultValue !== undefined ? defaultValue : answer;
  }

  /**
   * Asks for a secret. On a terminal nothing is echoed; over piped input the
   * next line is the answer, untrimmed apart from its line ending.
   */
  secret(question: string): Promise<string> {
    return this.#readLine(question, true);
  }

  /** Reads the next line of input without a question (for `--password-stdin`). */
  readLine(): Promise<string> {
    return this.#nextPipedLine("");
  }

  /** Releases standard input so the process can exit. */
  close(): void {
    this.#reader?.close();
    this.#reader = undefined;
    this.#lines = undefined;
  }

  async #readLine(question: string, hidden: boolean): Promise<string> {
    if (!this.interactive) {
      this.#output.write(question);
      const line = await this.#nextPipedLine(question);
      this.#output.write("\n"); // the answer was not echoed: end the prompt's line
      return line;
    }
    return hidden ? this.#readHidden(question) : this.#readVisible(question);
  }

  async #nextPipedLine(question: string): Promise<string> {
    if (!this.#lines) {
      this.#reader = createInterface({ input: this.#input, terminal: false, crlfDelay: Infinity });
      this.#lines = this.#reader[Symbol.asyncIterator]();
    }
    const next = await this.#lines.next();
    if (next.done) {
      const what = question.replace(/[:\s]+$/, "").trim();
      throw new CliError(`standard input ended before an answer${what ? ` to "${what}"` : ""}`);
    }
    return next.value;
  }

  #readVisible(question: string): Promise<string> {
    const rl = createInterface({ input: this.#input, output: this.#output, terminal: true });
    return new Promise((resolve, reject) => {
      let answered = false;
      rl.on("SIGINT", () => {
        this.#output.write("\n");
        rl.close();
        reject(new CliError("cancelled", 130));
      });
      rl.on("close", () => {
        if (!answered) reject(new CliError("cancelled", 130));
      });
      rl.question(question, (answer) => {
        answered = true;
        rl.close();
        resolve(answer);
      });
    });
  }

  /** Raw mode: we see each key and echo none, handling backspace, Ctrl-C and Ctrl-D ourselves. */
  #readHidden(question: string): Promise<string> {
    const input = this.#input;
    this.#output.write(question);
    return new Promise((resolve, reject) => {
      let value = "";
      const finish = (error?: CliError): void => {
        input.setRawMode?.(false);
        input.off("data", onData);
        input.pause();
        this.#output.write("\n");
        if (error) reject(error);
        else resolve(value);
      };
      const onData = (chunk: Buffer | string): void => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") return finish();
          if (ch === "\u0003") return finish(new CliError("cancelled", 130));
          if (ch === "\u0004") {
            if (value === "") return finish(new CliError("cancelled", 130));
            return finish();
          }
          if (ch === "\u007f" || ch === "\b") value = Array.from(value).slice(0, -1).join("");
          else if (ch === "\u0015") value = ""; // Ctrl-U clears the line, as in a shell
          else if (ch >= " ") value += ch;
        }
      };
      input.setRawMode?.(true);
      input.resume();
      input.on("data", onData);
    });
  }
}
