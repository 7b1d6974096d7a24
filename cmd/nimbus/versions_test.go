package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

// goZipWithMarker is the Go function with a marker.txt saying which code it is.
func goZipWithMarker(t *testing.T, marker string) []byte {
	t.Helper()
	goFunction(t)
	return zipOf(t, map[string]string{"bootstrap*": string(goFuncBin), "marker.txt": marker})
}

// wantAPIError checks that err is the API error code with exactly the message msg.
func wantAPIError(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	switch {
	case err == nil:
		t.Errorf("%s = success, want %s", what, code)
	case !asAPIError(err, &ae):
		t.Errorf("%s = %v, want %s", what, err, code)
	case ae.ErrorCode() != code || ae.ErrorMessage() != msg:
		t.Errorf("%s = %s %q\nwant %s %q", what, ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

// ran invokes name (any form, with its qualifier) with the "version" action and returns
// what the function saw and the executed version the API reported.
func ran(t *testing.T, c *lambdasdk.Client, name string) (marker, seenVersion, arn, executed string) {
	t.Helper()
	out := invoke(t, c, name, `{"action":"version"}`)
	if out.FunctionError != nil {
		t.Fatalf("Invoke(%s) failed: %s", name, out.Payload)
	}
	m := decode(t, out.Payload)
	if m["version"] != m["envVersion"] {
		t.Errorf("Invoke(%s): the context says version %v, AWS_LAMBDA_FUNCTION_VERSION %v", name, m["version"], m["envVersion"])
	}
	return m["marker"].(string), m["version"].(string), m["arn"].(string), aws.ToString(out.ExecutedVersion)
}

// TestVersionsAndWeightedAliases walks issue 12's story through the Go SDK: publish → update
// $LATEST → publish again → an alias at 1 with 10% to 2, then bad input, a restart, and
// deletions.
func TestVersionsAndWeightedAliases(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	arn := "arn:aws:lambda:us-east-1:000000000000:function:ver"

	created, err := c.CreateFunction(ctx, &lambdasdk.CreateFunctionInput{FunctionName: aws.String("ver"),
		Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Publish: true,
		Role: aws.String("arn:aws:iam::000000000000:role/lambda-role"), Code: codeOf(goZipWithMarker(t, "one"))})
	if err != nil {
		t.Fatalf("CreateFunction(Publish) = %v", err)
	}
	if v := aws.ToString(created.Version); v != "1" {
		t.Errorf("CreateFunction(Publish).Version = %q, want 1", v)
	}
	waitActive(t, c, "ver")
	twoZip := goZipWithMarker(t, "two")
	if _, err := c.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("ver"), ZipFile: twoZip}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, c, "ver")
	latest, err := c.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String("ver")})
	if err != nil {
		t.Fatal(err)
	}

	// Preconditions, with Lambda's messages.
	_, err = c.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("ver"), CodeSha256: aws.String("bm90IHRoZSBjb2Rl")})
	wantAPIError(t, "PublishVersion(wrong CodeSha256)", err, "InvalidParameterValueException",
		"CodeSHA256 (bm90IHRoZSBjb2Rl) is different from current CodeSHA256 in $LATEST ("+b64sha256(twoZip)+"). Please try again with the CodeSHA256 in $LATEST.")
	_, err = c.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("ver"), RevisionId: aws.String("f0f0f0f0-0000-0000-0000-000000000000")})
	wantAPIError(t, "PublishVersion(stale RevisionId)", err, "PreconditionFailedException",
		"The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")

	v2, err := c.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("ver"),
		CodeSha256: latest.CodeSha256, RevisionId: latest.RevisionId, Description: aws.String("second")})
	if err != nil || aws.ToString(v2.Version) != "2" || aws.ToString(v2.FunctionArn) != arn+":2" || aws.ToString(v2.Description) != "second" {
		t.Fatalf("PublishVersion = %+v, %v; want version 2", v2, err)
	}
	again, err := c.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("ver")})
	if err != nil || aws.ToString(again.Version) != "2" || aws.ToString(again.RevisionId) != aws.ToString(v2.RevisionId) {
		t.Errorf("PublishVersion of an unchanged $LATEST = %v, %v; want version 2 again", again, err)
	}

	// Each version runs its own code in its own environment; every name form works.
	for _, tc := range []struct{ name, marker, version string }{
		{"ver", "two", "$LATEST"},
		{"ver:1", "one", "1"},
		{"ver:2", "two", "2"},
		{"ver:$LATEST", "two", "$LATEST"},
		{arn + ":1", "one", "1"},
		{"000000000000:function:ver:2", "two", "2"},
		{"ver:1", "one", "1"},
	} {
		marker, seen, invokedARN, executed := ran(t, c, tc.name)
		if marker != tc.marker || seen != tc.version || executed != tc.version {
			t.Errorf("Invoke(%s) ran code %q as version %q (executed %q), want %q as %q", tc.name, marker, seen, executed, tc.marker, tc.version)
		}
		if want := arn + strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(tc.name, arn), "000000000000:function:ver"), "ver"); invokedARN != want {
			t.Errorf("Invoke(%s): invoked_function_arn %q, want %q", tc.name, invokedARN, want)
		}
	}
	v1Tail := logTail(t, invoke(t, c, "ver:1", `{"action":"noop"}`))
	if !strings.Contains(v1Tail, "Version: 1\n") {
		t.Errorf("log tail of version 1 has no START ... Version: 1:\n%s", v1Tail)
	}

	// Each version's environments log to their own streams: YYYY/MM/DD/[1]…, [2]…, [$LATEST]….
	lc := cwl.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: c.Options().Credentials},
		func(o *cwl.Options) { o.BaseEndpoint = aws.String(s.endpoint) })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var names []string
		if out, err := lc.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/ver")}); err == nil {
			for _, st := range out.LogStreams {
				names = append(names, aws.ToString(st.LogStreamName))
			}
		}
		all := strings.Join(names, " ")
		if strings.Contains(all, "/[1]") && strings.Contains(all, "/[2]") && strings.Contains(all, "/[$LATEST]") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log streams of ver = %v, want streams of [1], [2] and [$LATEST]", names)
		}
	}

	// The alias: live at 1 with 10% to 2.
	alias, err := c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live"),
		FunctionVersion: aws.String("1"), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}})
	if err != nil || aws.ToString(alias.AliasArn) != arn+":live" {
		t.Fatalf("CreateAlias = %+v, %v", alias, err)
	}
	const n, workers = 2000, 4
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	started := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / workers {
				out, err := c.Invoke(ctx, &lambdasdk.InvokeInput{FunctionName: aws.String("ver:live"), Payload: []byte(`{"action":"noop"}`)})
				if err != nil || out.FunctionError != nil {
					t.Errorf("Invoke(ver:live) = %v, %v", out, err)
					return
				}
				mu.Lock()
				counts[aws.ToString(out.ExecutedVersion)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d invocations of live (1, 10%% to 2) in %v: %v", n, time.Since(started).Round(time.Millisecond), counts)
	if counts["1"]+counts["2"] != n || counts["2"] < n*7/100 || counts["2"] > n*13/100 {
		t.Errorf("%d invocations of live ran versions %v, want 10%% ± 3%% on 2 and the rest on 1", n, counts)
	}
	for range 50 { // both versions seen from the function: the alias's ARN, the executed version
		marker, seen, invokedARN, executed := ran(t, c, "ver:live")
		if invokedARN != arn+":live" || seen != executed || (seen == "1") != (marker == "one") {
			t.Fatalf("Invoke(ver:live) ran code %q as %q (executed %q) with ARN %q", marker, seen, executed, invokedARN)
		}
	}

	// Bad input, with Lambda's codes and messages.
	weights := func(w map[string]float64) *types.AliasRoutingConfiguration {
		return &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}
	}
	_, err = c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("gone"), FunctionVersion: aws.String("99")})
	wantAPIError(t, "CreateAlias(version 99)", err, "ResourceNotFoundException", "Function not found: "+arn+":99")
	_, err = c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("w"), FunctionVersion: aws.String("1"), RoutingConfig: weights(map[string]float64{"2": 1.5})})
	wantAPIError(t, "CreateAlias(weight 1.5)", err, "ValidationException",
		"1 validation error detected: Value '{2=1.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]")
	_, err = c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("w"), FunctionVersion: aws.String("$LATEST"), RoutingConfig: weights(map[string]float64{"2": 0.5})})
	wantAPIError(t, "CreateAlias($LATEST with weights)", err, "InvalidParameterValueException", "$LATEST is not supported for an alias pointing to more than 1 version")
	_, err = c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("w"), FunctionVersion: aws.String("1"), RoutingConfig: weights(map[string]float64{"$LATEST": 0.5})})
	wantAPIError(t, "CreateAlias(weight to $LATEST)", err, "ValidationException",
		"1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+, Member must not be null]")
	_, err = c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("w"), FunctionVersion: aws.String("1"), RoutingConfig: weights(map[string]float64{"1": 0.5})})
	wantAPIError(t, "CreateAlias(weight to its own version)", err, "InvalidParameterValueException", "Invalid function version 1. Function version 1 is already included in routing configuration.")
	_, err = c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live"), FunctionVersion: aws.String("2")})
	wantAPIError(t, "CreateAlias(existing)", err, "ResourceConflictException", "Alias already exists: "+arn+":live")
	_, err = c.UpdateAlias(ctx, &lambdasdk.UpdateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live"), RevisionId: aws.String("stale")})
	wantAPIError(t, "UpdateAlias(stale RevisionId)", err, "PreconditionFailedException",
		"The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	_, err = c.GetAlias(ctx, &lambdasdk.GetAliasInput{FunctionName: aws.String("ver"), Name: aws.String("nope")})
	wantAPIError(t, "GetAlias(missing)", err, "ResourceNotFoundException", "Cannot find alias arn: "+arn+":nope")
	_, err = c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("ver:1"), Timeout: aws.Int32(9)})
	if apiCode(err) != "InvalidParameterValueException" {
		t.Errorf("UpdateFunctionConfiguration(ver:1) = %v, want InvalidParameterValueException", err)
	}
	for _, name := range []string{"ver:99", arn + ":nope"} {
		_, err = c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String(name)})
		wantAPIError(t, "GetFunction("+name+")", err, "ResourceNotFoundException", "Function not found: "+arn+strings.TrimPrefix(strings.TrimPrefix(name, arn), "ver"))
	}
	_, err = c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("ver:1"), Qualifier: aws.String("2")})
	wantAPIError(t, "GetFunction(ver:1, Qualifier 2)", err, "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.")
	_, err = c.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("ver"), Qualifier: aws.String("live")})
	wantAPIError(t, "DeleteFunction(alias)", err, "InvalidParameterValueException", "Deletion of aliases is not currently supported.")
	_, err = c.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("ver:1")})
	wantAPIError(t, "DeleteFunction(version of an alias)", err, "ResourceConflictException", "Unable to delete version because the following aliases reference it: [live]")

	// Account usage counts each version's package: $LATEST's, 1's and 2's (the zips of "one"
	// and "two" have the same size).
	settings, err := c.GetAccountSettings(ctx, &lambdasdk.GetAccountSettingsInput{})
	if want := 3 * int64(len(twoZip)); err != nil || settings.AccountUsage.TotalCodeSize != want {
		t.Errorf("GetAccountSettings = %+v, %v; want TotalCodeSize %d", settings.AccountUsage, err, want)
	}

	// Qualified reads.
	for q, want := range map[string]string{"1": "1", "2": "2", "live": "1", "$LATEST": "$LATEST"} {
		got, err := c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("ver"), Qualifier: aws.String(q)})
		if err != nil || aws.ToString(got.Configuration.Version) != want || aws.ToString(got.Configuration.FunctionArn) != arn+":"+q {
			t.Errorf("GetFunction(ver, %s) = %+v, %v; want version %s", q, got.Configuration, err, want)
		}
	}
	var listed []string
	p := lambdasdk.NewListVersionsByFunctionPaginator(c, &lambdasdk.ListVersionsByFunctionInput{FunctionName: aws.String("ver"), MaxItems: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			listed = append(listed, aws.ToString(v.Version)+"="+aws.ToString(v.FunctionArn))
		}
	}
	if want := []string{"$LATEST=" + arn + ":$LATEST", "1=" + arn + ":1", "2=" + arn + ":2"}; strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Errorf("ListVersionsByFunction pages = %v, want %v", listed, want)
	}

	listed = nil
	fp := lambdasdk.NewListFunctionsPaginator(c, &lambdasdk.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll, MaxItems: aws.Int32(2)})
	for fp.HasMorePages() {
		page, err := fp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Functions {
			listed = append(listed, aws.ToString(f.Version)+"="+aws.ToString(f.FunctionArn))
		}
	}
	if want := []string{"$LATEST=" + arn + ":$LATEST", "1=" + arn + ":1", "2=" + arn + ":2"}; strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Errorf("ListFunctions(FunctionVersion ALL) pages = %v, want %v", listed, want)
	}

	// An Event invoke of an alias runs the alias's version, through the async queue.
	createGo(t, c, "ver-rec", func(in *lambdasdk.CreateFunctionInput) { in.Publish = true })
	if _, err := c.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("one"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	putConfig(t, c, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("ver"),
		DestinationConfig: &types.DestinationConfig{OnSuccess: &types.OnSuccess{Destination: aws.String("arn:aws:lambda:us-east-1:000000000000:function:ver-rec:1")}}})
	id := invokeEvent(t, c, "ver:one", `{"action":"version"}`)
	rec := waitRecord(t, s, "ver-rec", id)
	if rec.ResponseContext == nil || rec.ResponseContext.ExecutedVersion != "1" || rec.RequestContext.FunctionArn != arn+":1" ||
		!strings.Contains(string(rec.ResponsePayload), `"marker":"one"`) || !strings.Contains(string(rec.ResponsePayload), `"arn":"`+arn+`:one"`) {
		t.Errorf("record of an Event invoke of ver:one = %+v, response %s; want version 1's code run as 1 through the alias", rec, rec.ResponsePayload)
	}

	// A restart keeps versions and aliases.
	s.restart()
	c = s.client()
	got, err := c.GetAlias(ctx, &lambdasdk.GetAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live")})
	if err != nil || got.RoutingConfig == nil || got.RoutingConfig.AdditionalVersionWeights["2"] != 0.1 || aws.ToString(got.RevisionId) != aws.ToString(alias.RevisionId) {
		t.Errorf("GetAlias(live) after restart = %+v, %v", got, err)
	}
	if marker, _, _, executed := ran(t, c, "ver:1"); marker != "one" || executed != "1" {
		t.Errorf("version 1 after restart ran %q as %q", marker, executed)
	}

	// Numbers are never reused: delete 2, update, publish → 3.
	if _, err := c.UpdateAlias(ctx, &lambdasdk.UpdateAliasInput{FunctionName: aws.String("ver"), Name: aws.String("live"),
		RevisionId: got.RevisionId, RoutingConfig: &types.AliasRoutingConfiguration{}}); err != nil {
		t.Fatalf("UpdateAlias(no routing) = %v", err)
	}
	if _, err := c.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("ver"), Qualifier: aws.String("2")}); err != nil {
		t.Fatalf("DeleteFunction(ver, 2) = %v", err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("ver"), Timeout: aws.Int32(9)}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, c, "ver")
	v3, err := c.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("ver")})
	if err != nil || aws.ToString(v3.Version) != "3" {
		t.Errorf("PublishVersion after deleting 2 = %v, %v; want 3", v3, err)
	}

	// Deleting the function deletes every version.
	if _, err := c.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("ver")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("ver:1")})
	wantAPIError(t, "GetFunction(ver:1) after DeleteFunction", err, "ResourceNotFoundException", "Function not found: "+arn+":1")
}

// TestCLIPublishAndAlias: nimbus publish, nimbus alias with --weight, nimbus invoke
// NAME:ALIAS and the versions and aliases of nimbus get, in tables and in JSON.
func TestCLIPublishAndAlias(t *testing.T) {
	requireRoot(t)
	s := startServer(t, "")
	c := s.client()
	ctx := context.Background()
	createGo(t, c, "cliver", nil)
	if r := s.must("publish", "cliver"); !strings.HasPrefix(r.stdout, "cliver version 1 (arn:aws:lambda:us-east-1:000000000000:function:cliver:1)") {
		t.Errorf("nimbus publish printed %q", r.stdout)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("cliver"), Timeout: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	waitUpdated(t, c, "cliver")
	var published struct{ Version, FunctionArn string }
	parseJSON(t, "publish --output json", s.must("publish", "cliver", "--description", "seven", "--output", "json").stdout, &published)
	if published.Version != "2" || !strings.HasSuffix(published.FunctionArn, ":cliver:2") {
		t.Errorf("nimbus publish --output json = %+v, want version 2", published)
	}
	if r := s.must("alias", "cliver", "live", "1", "--weight", "2=0.5"); strings.TrimSpace(r.stdout) != "cliver:live -> 1 (50% to 2)" {
		t.Errorf("nimbus alias printed %q", r.stdout)
	}
	if r := s.must("alias", "cliver", "live", "2"); strings.TrimSpace(r.stdout) != "cliver:live -> 2" {
		t.Errorf("nimbus alias (update, no weight) printed %q", r.stdout)
	}
	s.must("alias", "cliver", "live", "1", "--weight", "2=0.5")
	if r := s.nimbus("alias", "cliver", "bad", "1", "--weight", "2"); r.code != 1 || !strings.Contains(r.stderr, "VERSION=SHARE") {
		t.Errorf("nimbus alias --weight 2 = exit %d, stderr %q", r.code, r.stderr)
	}
	if r := s.nimbus("alias", "cliver", "bad", "9"); r.code != 1 || !strings.Contains(r.stderr, "Function not found: arn:aws:lambda:us-east-1:000000000000:function:cliver:9") {
		t.Errorf("nimbus alias to version 9 = exit %d, stderr %q", r.code, r.stderr)
	}
	var inv struct{ ExecutedVersion string }
	parseJSON(t, "invoke cliver:live", s.must("invoke", "cliver:live", "--payload", `{"action":"noop"}`, "--output", "json").stdout, &inv)
	if inv.ExecutedVersion != "1" && inv.ExecutedVersion != "2" {
		t.Errorf("nimbus invoke cliver:live ran version %q", inv.ExecutedVersion)
	}
	var got struct {
		Version  string
		Versions []struct{ Version, Description string }
		Aliases  []struct {
			Name, FunctionVersion    string
			AdditionalVersionWeights map[string]float64
		}
	}
	parseJSON(t, "get --output json", s.must("get", "cliver", "--output", "json").stdout, &got)
	if len(got.Versions) != 2 || got.Versions[1].Description != "seven" || len(got.Aliases) != 1 ||
		got.Aliases[0].Name != "live" || got.Aliases[0].AdditionalVersionWeights["2"] != 0.5 {
		t.Errorf("nimbus get --output json = %+v", got)
	}
	if r := s.must("get", "cliver"); !strings.Contains(r.stdout, "live -> 1 (50% to 2)") || !strings.Contains(r.stdout, "Versions") {
		t.Errorf("nimbus get printed:\n%s", r.stdout)
	}
	var v2 map[string]any
	parseJSON(t, "get cliver:2", s.must("get", "cliver:2", "--output", "json").stdout, &v2)
	if v2["Version"] != "2" || v2["Versions"] != nil || v2["Description"] != "seven" {
		t.Errorf("nimbus get cliver:2 = %v, want version 2 alone", v2)
	}
}
