/**
 * Help text from the commands' own usage texts. A usage text holds one block per command: a line starting
 * `tapwire <command>` and the indented lines under it (flags with their defaults, what it does, an example).
 * A block belongs to the longest command name its first line starts with, so `tapwire hub --help` shows the hub
 * itself and not `hub enroll`; `review approve|decline` belongs to both.
 */
export interface UsageBlock {
  header: string;
  text: string;
}

export function usageBlocks(usageTexts: readonly string[]): UsageBlock[] {
  const blocks: UsageBlock[] = [];
  for (const line of usageTexts.join("\n").split("\n")) {
    if (line.startsWith("tapwire ")) blocks.push({ header: line, text: line });
    else if (blocks.length > 0) blocks.at(-1)!.text += `\n${line}`;
  }
  return blocks;
}

/** Whether the header's words start with the command's (a header word `approve|decline` matches either). */
function startsWith(header: string, command: string): boolean {
  const words = header.split(/\s+/).slice(1);
  return command.split(" ").every((word, index) => (words[index] ?? "").split("|").includes(word));
}

/** The blocks that belong to `command` (see the file comment). */
export function blocksOf(command: string, blocks: readonly UsageBlock[], commands: readonly string[]): UsageBlock[] {
  const words = command.split(" ").length;
  return blocks.filter((block) => {
    if (!startsWith(block.header, command)) return false;
    return !commands.some((other) => other.split(" ").length > words && startsWith(block.header, other));
  });
}

export function overview(blocks: readonly UsageBlock[], version: string): string {
  return [
    `tapwire ${version}: payment hubs, their simulator and the settlement service`,
    "",
    "usage:",
    ...blocks.map((block) => `  ${block.header.slice("tapwire ".length).split(" [")[0]!.split(" --")[0]}`),
    "",
    "`tapwire <command> --help` (or -h) shows a command's flags, their defaults and an example; `tapwire --version`.",
    "TAPWIRE_LOG=fatal|error|warn|info|debug sets the log level on stderr (default warn; info: one line per decision).",
    "Exit codes: 0 done, 1 refused, 2 usage or config, 3 data dir unusable, 4 port in use, 70 bug (README, Exit codes).",
  ].join("\n");
}
