using OpenCM.Cli;

return await OpenCmCli.RunAsync(args, Console.Out, Console.Error);
