// Fragment numbers as the media APIs take them (AfterFragmentNumber, ContinuationToken,
// GetMediaForFragmentList's Fragments): decimal strings the store hands out, 1–128 digits as
// the AWS models constrain them.

/** The Input rule for a fragment number member. */
export const FRAGMENT_NUMBER_RULE = { min: 1, max: 128, pattern: /[0-9]+/ } as const;
