package queries

import "fmt"

// Outcome is the verdict of one check run.
type Outcome string

const (
	Pass          Outcome = "pass"
	Fail          Outcome = "fail"
	NotApplicable Outcome = "not_applicable"
)

func (o Outcome) valid() bool {
	return o == Pass || o == Fail || o == NotApplicable
}

// CompliantColumn is the column every check query must return; see the package doc.
const CompliantColumn = "compliant"

// Evaluation is the result of applying the pass rule to a query's rows.
type Evaluation struct {
	Outcome Outcome
	// Failing holds the rows that made the check fail, so the evidence shows
	// the offending detail rather than a bare verdict.
	Failing []map[string]string
	Reason  string
}

// Evaluate applies the pass rule to rows as osquery returns them (every value a
// string). For a check obtained through Catalog.ForPlatform or Check.On, the
// platform's when_empty override is already folded into WhenEmpty.
func (c Check) Evaluate(rows []map[string]string) Evaluation {
	if len(rows) == 0 {
		out := c.WhenEmpty
		if out == "" {
			out = Fail
		}
		return Evaluation{Outcome: out, Reason: "query returned no rows"}
	}
	var failing []map[string]string
	missing, notCompliant := 0, 0
	for _, row := range rows {
		v, ok := row[CompliantColumn]
		switch {
		case !ok:
			missing++
			failing = append(failing, row)
		case v != "1":
			notCompliant++
			failing = append(failing, row)
		}
	}
	switch {
	case missing > 0:
		reason := fmt.Sprintf("%d of %d rows have no %q column (the check's SQL must select one)",
			missing, len(rows), CompliantColumn)
		if notCompliant > 0 {
			reason += fmt.Sprintf("; %d not compliant", notCompliant)
		}
		return Evaluation{Outcome: Fail, Failing: failing, Reason: reason}
	case notCompliant > 0:
		return Evaluation{Outcome: Fail, Failing: failing,
			Reason: fmt.Sprintf("%d of %d rows not compliant", notCompliant, len(rows))}
	default:
		return Evaluation{Outcome: Pass, Reason: fmt.Sprintf("%d of %d rows compliant", len(rows), len(rows))}
	}
}
