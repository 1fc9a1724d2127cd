// DESIGN.md "API conventions", as types of the generated TypeScript client: each line that
// does not compile names one place where openapi/openapi.json does not give an app developer
// the contract. Compiled by .ci/clients with `tsc --strict --noEmit`; nothing here runs.
import type {
  ChildrenFigures,
  DownloadAgreementAttachmentResponses,
  DownloadVisitAttachmentResponses,
  Subsidy,
  SyncChangesPage,
} from './out/client';

type Holds<T extends true> = T;
type Item = SyncChangesPage['items'][number];
type IsNever<T> = [T] extends [never] ? true : false;

// The sync item union is discriminated on a required `kind`.
type SyncItemKind = Item extends { kind: infer K } ? K : never;
export type SyncItemsAllHaveARequiredKind = Holds<Item extends { kind: string } ? true : false>;
export type SyncItemKindsIncludeChildVisitAgreementReportTombstone = Holds<
  'child' | 'visit' | 'agreement' | 'report' | 'tombstone' extends SyncItemKind ? true : false
>;
// Narrowing on `kind` gives the child's own data, not a report's.
type ChildItem = Extract<Item, { kind: 'child' }>;
export type SyncChildItemCarriesAChild = Holds<
  IsNever<ChildItem> extends true ? false : ChildItem extends { data: { birth_date: string } } ? true : false
>;
type TombstoneItem = Extract<Item, { kind: 'tombstone' }>;
export type SyncTombstoneHasAReason = Holds<
  IsNever<TombstoneItem> extends true ? false : TombstoneItem extends { reason: string } ? true : false
>;

// Downloads are binary.
export type VisitAttachmentDownloadIsBinary = Holds<
  DownloadVisitAttachmentResponses[200] extends Blob ? true : false
>;
export type AgreementAttachmentDownloadIsBinary = Holds<
  DownloadAgreementAttachmentResponses[200] extends Blob ? true : false
>;

// A figure has one type (no "number or a string"); money is a decimal string.
export type StatisticsFigureIsNotAString = Holds<IsNever<Extract<ChildrenFigures['active'], string>>>;
export type SubsidyMonthlyAmountIsADecimalString = Holds<
  IsNever<Extract<Subsidy['monthly_amount'], number>>
>;
