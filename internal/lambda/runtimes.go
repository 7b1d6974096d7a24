package lambda

import "slices"

// LambdaRuntimes are the runtime identifiers AWS Lambda knows, current and deprecated (the
// Runtime enum of the 2015-03-31 API). A server runs only some of them: those it has the
// interpreter for.
var LambdaRuntimes = []string{
	"nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
	"nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x", "nodejs26.x",
	"python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10", "python3.11", "python3.12",
	"python3.13", "python3.14", "python3.15",
	"java8", "java8.al2", "java8.al2023", "java11", "java11.al2023", "java17", "java17.al2023", "java21", "java25",
	"dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8", "dotnet10",
	"go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3", "ruby3.4", "ruby4.0",
	"provided", "provided.al2", "provided.al2023",
}

// IsLambdaRuntime reports whether AWS Lambda knows the runtime.
func IsLambdaRuntime(name string) bool { return slices.Contains(LambdaRuntimes, name) }
