using BenchmarkDotNet.Running;

// Code-path benchmarks (docs/benchmarks.md):
//   dotnet run -c Release --project bench/OpenCM.Bench -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
