/**
 * Who may do what where: the `auth.access` rules of the config. A rule names subjects
 * (user names, `group:<name>`, `*` for any authenticated user, `anonymous` for everyone,
 * logged in or not), repository
 * globs (`*` inside one path component, `**` across components) and actions. What a
 * subject may do on a repository is the union of the rules that match. Without rules,
 * an authenticated user may do everything and an anonymous one nothing.
 */
import type { AccessRule } from '../../config/config.js';
import { repositoryGlob } from '../../oci/names.js';

export type Action = 'pull' | 'push' | 'delete';
export const ALL_ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

interface CompiledRule {
  subjects: Set<string>;
  repositories: RegExp[];
  actions: Action[];
}

export class AccessPolicy {
  private readonly rules: CompiledRule[];
  private readonly groupsOf = new Map<string, string[]>();

  constructor(rules: AccessRule[], groups: Record<string, string[]>) {
    this.rules = rules.map((r) => ({
      subjects: new Set(r.subjects),
      repositories: r.repositories.map(repositoryGlob),
      actions: r.actions.includes('*') ? [...ALL_ACTIONS] : (r.actions as Action[]),
    }));
    for (const [group, users] of Object.entries(groups)) {
      for (const user of users) this.groupsOf.set(user, [...(this.groupsOf.get(user) ?? []), group]);
    }
  }

  /** `subject` undefined: anonymous. */
  allowed(subject: string | undefined, repository: string): Set<Action> {
    if (this.rules.length === 0) return new Set(subject === undefined ? [] : ALL_ACTIONS);
    // `anonymous` rules apply to everyone: logging in must never lose access a stranger has.
    const names = subject === undefined ? ['anonymous'] : [subject, '*', 'anonymous', ...(this.groupsOf.get(subject) ?? []).map((g) => `group:${g}`)];
    const granted = new Set<Action>();
    for (const rule of this.rules) {
      if (names.some((n) => rule.subjects.has(n)) && rule.repositories.some((re) => re.test(repository))) {
        for (const a of rule.actions) granted.add(a);
      }
    }
    return granted;
  }

  /**
   * May `subject` do `action` on every repository? (the admin endpoints: GC) Only without
   * rules, or through a rule for it whose globs include `**`.
   */
  mayEverywhere(subject: string | undefined, action: Action): boolean {
    if (subject === undefined) return false;
    if (this.rules.length === 0) return true;
    const names = [subject, '*', 'anonymous', ...(this.groupsOf.get(subject) ?? []).map((g) => `group:${g}`)];
    return this.rules.some((r) => names.some((n) => r.subjects.has(n)) && r.repositories.some((re) => re.source === '^.*$') && r.actions.includes(action));
  }

  /** Whether anonymous callers have any access at all (then they may list the catalog, filtered). */
  get anonymousHasAccess(): boolean {
    return this.rules.some((r) => r.subjects.has('anonymous') && r.actions.length > 0);
  }
}
