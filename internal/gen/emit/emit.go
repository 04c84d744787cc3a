// Package emit is bsgen's last stage: it writes the Go code for a schema
// package described by internal/gen/model, with github.com/dave/jennifer.
// Every import goes through jen.Qual, so the import block is always exactly
// what the code uses. Only internal/gen imports it.
package emit

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
	"golang.org/x/tools/imports"

	"github.com/better-state/better-state/internal/gen/model"
	"github.com/better-state/better-state/runtime/contract"
)

// Import paths of the packages generated code calls.
const (
	RuntimePath = "github.com/better-state/better-state/runtime/contract"
	ServerPath  = "github.com/better-state/better-state/runtime/server/serve"
)

// ContractVersion is the version of the runtime contract generated code is
// written for: the version of the runtime bsgen is built with.
const ContractVersion = contract.Version

// Output is the generated file of one schema package.
type Output struct {
	Source []byte
	// Names lists the package-level names the file declares, for the
	// caller to check against the package's own declarations.
	Names []string
}

// Package returns the generated file of p.
func Package(p *model.Package) (*Output, error) {
	e := &emitter{p: p, f: jen.NewFilePathName(p.Path, p.Name), helpers: map[*model.Type]string{}}
	e.f.HeaderComment(model.Header)
	for _, path := range []string{RuntimePath, model.SchemaPath} {
		e.importName(path, path[strings.LastIndex(path, "/")+1:])
	}

	e.comments(e.f.Group, fmt.Sprintf("This file was generated for version %d of the runtime contract. If these\n"+
		"lines fail to compile, the generated code is stale: regenerate with bsgen.", ContractVersion))
	e.f.Const().Defs(
		jen.Id("_").Op("=").Qual(RuntimePath, "RegenerateWithBsgen").Call(jen.Lit(ContractVersion).Op("-").Qual(RuntimePath, "MinVersion")),
		jen.Id("_").Op("=").Qual(RuntimePath, "RegenerateWithBsgen").Call(jen.Qual(RuntimePath, "MaxVersion").Op("-").Lit(ContractVersion)),
	)
	for _, s := range p.States {
		e.state(s)
	}
	e.emitHelpers()

	e.f.Comment("Register adds this package's state types to r. Servers call it.")
	e.declare("Register")
	e.f.Func().Id("Register").Params(jen.Id("r").Op("*").Qual(RuntimePath, "Registry")).BlockFunc(func(g *jen.Group) {
		for _, s := range p.States {
			g.Id("r").Dot("Add").Call(jen.Id(s.Name + "Type"))
		}
	})

	src, err := render(e.f, p.Name+"_bs.go")
	if err != nil {
		return nil, fmt.Errorf("bsgen: rendering %s: %w", p.Path, err)
	}
	return &Output{Source: src, Names: e.names}, nil
}

// ServerMain returns the main package of a server for p, named command.
func ServerMain(p *model.Package, command string) ([]byte, error) {
	f := jen.NewFile("main")
	f.HeaderComment(model.Header)
	f.PackageComment(fmt.Sprintf("Command %s serves the states of package %s.", command, p.Name))
	if p.Path[strings.LastIndex(p.Path, "/")+1:] == p.Name {
		f.ImportName(p.Path, p.Name)
	} else {
		f.ImportAlias(p.Path, p.Name)
	}
	f.ImportName(ServerPath, "serve")
	f.Func().Id("main").Params().Block(
		jen.Qual("os", "Exit").Call(jen.Qual(ServerPath, "Main").Call(
			jen.Qual("os", "Args").Index(jen.Lit(1).Op(":")),
			jen.Qual(p.Path, "Register"),
		)),
	)
	src, err := render(f, "main.go")
	if err != nil {
		return nil, fmt.Errorf("bsgen: rendering the server main of %s: %w", p.Path, err)
	}
	return src, nil
}

// render renders f and groups its imports the way goimports does, standard
// library first (jennifer puts them in one block).
func render(f *jen.File, name string) ([]byte, error) {
	var buf bytes.Buffer
	if err := f.Render(&buf); err != nil {
		return nil, err
	}
	return imports.Process(name, buf.Bytes(), &imports.Options{FormatOnly: true, Comments: true, TabIndent: true, TabWidth: 8})
}

// multiLine renders a composite literal's elements one per line, in the
// order given (jen.Dict would sort them); oneLine renders a short function
// body on the line of its signature.
var (
	multiLine = jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true}
	oneLine   = jen.Options{Open: "{", Close: "}"}
)

type emitter struct {
	p *model.Package
	f *jen.File
	// helpers names the deep-copy helper of each local named type that
	// needs one; queue holds those not emitted yet.
	helpers map[*model.Type]string
	queue   []*model.Type
	names   []string
}

func (e *emitter) declare(name string) { e.names = append(e.names, name) }

// importName registers the name the file uses for path: the package's own
// name, unless the schema package declares that name itself.
func (e *emitter) importName(path, name string) {
	if _, taken := e.p.Declared[name]; taken {
		e.f.ImportAlias(path, "bs"+name)
		return
	}
	e.f.ImportName(path, name)
}

// comments adds one // line per line of text.
func (e *emitter) comments(g *jen.Group, text string) {
	for _, line := range strings.Split(text, "\n") {
		g.Comment(line)
	}
}

func (e *emitter) state(s *model.State) {
	S := s.Name
	e.envelopes(s)
	e.clone(s)

	// The descriptor.
	e.f.Commentf("%sType describes %s to the runtime.", S, S)
	e.declare(S + "Type")
	actions := make([]jen.Code, len(s.Actions))
	for i, a := range s.Actions {
		actions[i] = jen.Lit(a.Name)
	}
	e.f.Var().Id(S+"Type").Op("=").Op("&").Qual(RuntimePath, "Type").Custom(multiLine,
		jen.Id("Name").Op(":").Lit(s.WireName),
		jen.Id("Fingerprint").Op(":").Lit(contract.FingerprintOf(s.Shape())),
		jen.Id("Shape").Op(":").Add(shapeLit(s.Shape())),
		jen.Id("JSONSchema").Op(":").Add(rawLit(s.JSONSchema())),
		jen.Id("Actions").Op(":").Index().String().Values(actions...),
		jen.Id("New").Op(":").Func().Params().Any().Custom(oneLine, jen.Return(jen.New(jen.Id(S)))),
		jen.Id("Clone").Op(":").Func().Params(jen.Id("s").Any()).Any().Custom(oneLine,
			jen.Return(jen.Id("Clone"+S).Call(jen.Id("s").Assert(jen.Op("*").Id(S))))),
		jen.Id("Dispatch").Op(":").Id("dispatch"+S),
		jen.Id("Args").Op(":").Id("args"+S),
		jen.Id("Call").Op(":").Id("call"+S),
		presenceField(s),
		ruleField(s, "ReadRule"),
		ruleField(s, "WriteRule"),
		limitFields(s),
	)
	if p := s.Presence; p != nil {
		e.f.Commentf("PresenceFor ties %s to %s as its presence type (//bs:presence %s):", p.Name, S, S)
		e.f.Commentf("client.PresenceOf[%s] takes it for a store of %s only.", p.Name, S)
		e.f.Func().Params(jen.Id(p.Name)).Id("PresenceFor").Params(jen.Op("*").Id(S)).Block()
	}
	e.dispatch(s)
	e.argsFunc(s)
	e.callFunc(s)
}

// unmarshalArgs emits the envelope's strict decoder: each key must name a
// parameter exactly, once; each value is decoded by the helper for its
// type (contract.String, Int, Uint, Bool, or Value for the rest).
func (e *emitter) unmarshalArgs(name string, a *model.Action) {
	e.f.Commentf("UnmarshalArgs decodes the JSON arguments of %s into a, strictly: each key", a.Name)
	e.f.Comment("names a parameter exactly, once; anything else is a bad_args error.")
	body := jen.Return(jen.Qual(RuntimePath, "ObjectFields").Call(jen.Id("action"), jen.Id("data"),
		jen.Func().Params(jen.Id("key").String(), jen.Id("v").Index().Byte()).Error().BlockFunc(func(g *jen.Group) {
			if len(a.Params) > 0 {
				g.Switch(jen.Id("key")).BlockFunc(func(g *jen.Group) {
					for _, p := range a.Params {
						g.Case(jen.Lit(p.Name)).Block(jen.Return(jen.Qual(RuntimePath, fieldDecoder(p.Type)).Call(
							jen.Id("action"), jen.Id("key"), jen.Id("v"), jen.Op("&").Id("a").Dot(p.Field))))
					}
				})
			}
			g.Return(jen.Qual(RuntimePath, "UnknownField").Call(jen.Id("action"), jen.Id("key")))
		})))
	e.f.Func().Params(jen.Id("a").Op("*").Id(name)).Id("UnmarshalArgs").Params(jen.Id("action").String(), jen.Id("data").Index().Byte()).Error().Block(body)
}

// fieldDecoder names the contract helper that decodes a field of type t:
// a fast one for basic kinds (also behind a type of the schema package,
// unless it decodes itself), Value for everything else.
func fieldDecoder(t *model.Type) string {
	if t.Kind == model.Named && t.Unmarshals {
		return "Value" // its own UnmarshalJSON or UnmarshalText decides
	}
	if t.Kind == model.Named && t.Local && t.Underlying != nil {
		t = t.Underlying
	}
	if t.Kind != model.Basic {
		return "Value"
	}
	switch t.Name {
	case "string":
		return "String"
	case "bool":
		return "Bool"
	case "int", "int8", "int16", "int32", "int64":
		return "Int"
	case "uint", "uint8", "uint16", "uint32", "uint64", "byte":
		return "Uint"
	}
	return "Value"
}

// rawLit spells s as a raw string literal, readable in the generated file,
// unless s holds a backquote.
func rawLit(s string) *jen.Statement {
	if strings.Contains(s, "`") {
		return jen.Lit(s)
	}
	return jen.Op("`" + s + "`")
}

// shapeLit spells a shape description as one string literal per line, so
// that a diff of the generated file shows which line changed.
func shapeLit(shape string) *jen.Statement {
	lines := strings.SplitAfter(shape, "\n")
	if len(lines) > 1 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	st := jen.Lit(lines[0])
	for _, l := range lines[1:] {
		st = st.Op("+").Line().Lit(l)
	}
	return st
}

func argsName(s *model.State, a *model.Action) string { return s.Name + a.Name + "Args" }

func (e *emitter) envelopes(s *model.State) {
	for _, a := range s.Actions {
		name := argsName(s, a)
		e.declare(name)
		e.f.Commentf("%s is the envelope of %s.%s's arguments.", name, s.Name, a.Name)
		e.f.Type().Id(name).StructFunc(func(g *jen.Group) {
			for _, p := range a.Params {
				g.Id(p.Field).Add(e.typ(p.Type)).Tag(map[string]string{"json": p.Name})
			}
		})
		e.f.Commentf("ActionName returns %q: %s is the envelope of an action of %s.", a.Name, name, s.Name)
		e.f.Func().Params(jen.Id(name)).Id("ActionName").Params(jen.Op("*").Id(s.Name)).String().Custom(oneLine, jen.Return(jen.Lit(a.Name)))
		e.unmarshalArgs(name, a)
	}
}

func (e *emitter) dispatch(s *model.State) {
	S := s.Name
	e.f.Commentf("dispatch%s decodes args into the envelope of action and calls it on state, a *%s.", S, S)
	e.actionSwitch(s, "dispatch"+S, jen.Index().Byte(), func(a *model.Action) []jen.Code {
		return []jen.Code{
			jen.Var().Id("a").Id(argsName(s, a)),
			jen.If(jen.Err().Op(":=").Id("a").Dot("UnmarshalArgs").Call(jen.Id("action"), jen.Id("args")), jen.Err().Op("!=").Nil()).Block(
				jen.Return(jen.Err()),
			),
			jen.Return(jen.Id("s").Dot(a.Name).Call(actionCall(a)...)),
		}
	})
}

// actionSwitch emits func name(state any, ctx schema.Ctx, action string,
// args argsType) error: a switch on action whose cases body gives, with s
// the state, and an unknown_action error after it.
func (e *emitter) actionSwitch(s *model.State, name string, argsType jen.Code, body func(*model.Action) []jen.Code) {
	e.declare(name)
	e.f.Func().Id(name).Params(
		jen.Id("state").Any(),
		jen.Id("ctx").Qual(model.SchemaPath, "Ctx"),
		jen.Id("action").String(),
		jen.Id("args").Add(argsType),
	).Error().BlockFunc(func(g *jen.Group) {
		if len(s.Actions) > 0 {
			g.Id("s").Op(":=").Id("state").Assert(jen.Op("*").Id(s.Name))
			g.Switch(jen.Id("action")).BlockFunc(func(g *jen.Group) {
				for _, a := range s.Actions {
					g.Case(jen.Lit(a.Name)).Block(body(a)...)
				}
			})
		}
		g.Return(jen.Qual(RuntimePath, "UnknownAction").Call(jen.Lit(s.WireName), jen.Id("action")))
	})
}

// actionCall is the argument list of a call of action a from its
// envelope a: ctx, then each parameter's field.
func actionCall(a *model.Action) []jen.Code {
	call := []jen.Code{jen.Id("ctx")}
	for i, p := range a.Params {
		arg := jen.Id("a").Dot(p.Field)
		if a.Variadic && i == len(a.Params)-1 {
			arg = arg.Op("...")
		}
		call = append(call, arg)
	}
	return call
}

// argsFunc emits args<S>, which returns a new envelope of an action's
// arguments: the server decodes args into it and logs its re-encoding.
func (e *emitter) argsFunc(s *model.State) {
	S := s.Name
	e.declare("args" + S)
	e.f.Commentf("args%s returns a new envelope of action's arguments, or nil for an unknown action.", S)
	e.f.Func().Id("args" + S).Params(jen.Id("action").String()).Any().BlockFunc(func(g *jen.Group) {
		if len(s.Actions) > 0 {
			g.Switch(jen.Id("action")).BlockFunc(func(g *jen.Group) {
				for _, a := range s.Actions {
					g.Case(jen.Lit(a.Name)).Block(jen.Return(jen.New(jen.Id(argsName(s, a)))))
				}
			})
		}
		g.Return(jen.Nil())
	})
}

// callFunc emits call<S>, which calls an action with its decoded envelope.
func (e *emitter) callFunc(s *model.State) {
	S := s.Name
	e.f.Commentf("call%s calls action on state, a *%s, with args, the envelope that args%s made.", S, S, S)
	e.actionSwitch(s, "call"+S, jen.Any(), func(a *model.Action) []jen.Code {
		var body []jen.Code
		if len(a.Params) > 0 {
			body = append(body, jen.Id("a").Op(":=").Id("args").Assert(jen.Op("*").Id(argsName(s, a))))
		}
		return append(body, jen.Return(jen.Id("s").Dot(a.Name).Call(actionCall(a)...)))
	})
}

// typ spells t.
func (e *emitter) typ(t *model.Type) *jen.Statement {
	switch t.Kind {
	case model.Basic, model.Other:
		return jen.Id(t.Name)
	case model.Named:
		var s *jen.Statement
		if t.Local || t.PkgPath == "" {
			s = jen.Id(t.Name)
		} else {
			e.importName(t.PkgPath, t.PkgName)
			s = jen.Qual(t.PkgPath, t.Name)
		}
		if len(t.Args) > 0 {
			args := make([]jen.Code, len(t.Args))
			for i, a := range t.Args {
				args[i] = e.typ(a)
			}
			s = s.Types(args...)
		}
		return s
	case model.Pointer:
		return jen.Op("*").Add(e.typ(t.Elem))
	case model.Slice:
		return jen.Index().Add(e.typ(t.Elem))
	case model.Array:
		return jen.Index(jen.Id(strconv.FormatInt(t.Len, 10))).Add(e.typ(t.Elem))
	case model.Map:
		return jen.Map(e.typ(t.Key)).Add(e.typ(t.Elem))
	case model.Struct:
		return jen.StructFunc(func(g *jen.Group) {
			for _, f := range t.Fields {
				var s *jen.Statement
				if f.Embedded {
					s = g.Add(e.typ(f.Type))
				} else {
					s = g.Id(f.Name).Add(e.typ(f.Type))
				}
				if f.Tag != "" {
					tag := "`" + f.Tag + "`"
					if strings.Contains(f.Tag, "`") {
						tag = strconv.Quote(f.Tag)
					}
					s.Op(tag)
				}
			}
		})
	}
	panic(fmt.Sprintf("bsgen: unknown type kind %d", t.Kind))
}

// presenceField is the descriptor's Presence, or nothing.
func presenceField(s *model.State) jen.Code {
	p := s.Presence
	if p == nil {
		return jen.Null()
	}
	return jen.Id("Presence").Op(":").Op("&").Qual(RuntimePath, "Presence").Values(jen.Dict{
		jen.Id("Name"): jen.Lit(p.WireName),
		jen.Id("New"):  jen.Func().Params().Any().Custom(oneLine, jen.Return(jen.New(jen.Id(p.Name)))),
	})
}

// ruleField is the descriptor's ReadRule or WriteRule, or nothing.
func ruleField(s *model.State, rule string) jen.Code {
	S := s.Name
	switch {
	case rule == "ReadRule" && s.ReadRule:
		return jen.Id("ReadRule").Op(":").Func().Params(jen.Id("s").Any(), jen.Id("ctx").Qual(model.SchemaPath, "Ctx")).Error().Custom(oneLine,
			jen.Return(jen.Id("s").Assert(jen.Op("*").Id(S)).Dot("ReadRule").Call(jen.Id("ctx"))))
	case rule == "WriteRule" && s.WriteRule:
		return jen.Id("WriteRule").Op(":").Func().Params(jen.Id("s").Any(), jen.Id("ctx").Qual(model.SchemaPath, "Ctx"), jen.Id("action").String()).Error().Custom(oneLine,
			jen.Return(jen.Id("s").Assert(jen.Op("*").Id(S)).Dot("WriteRule").Call(jen.Id("ctx"), jen.Id("action"))))
	}
	return jen.Null()
}

// limitFields are the descriptor's MaxStateBytes and MaxArgs, if declared.
func limitFields(s *model.State) jen.Code {
	var fields []jen.Code
	if s.MaxStateBytes > 0 {
		fields = append(fields, jen.Id("MaxStateBytes").Op(":").Lit(s.MaxStateBytes))
	}
	args := jen.Dict{}
	for _, a := range s.Actions {
		if a.MaxArgsBytes > 0 {
			args[jen.Lit(a.Name)] = jen.Lit(a.MaxArgsBytes)
		}
	}
	if len(args) > 0 {
		fields = append(fields, jen.Id("MaxArgs").Op(":").Map(jen.String()).Int().Values(args))
	}
	if len(fields) == 0 {
		return jen.Null()
	}
	g := jen.Null()
	for i, f := range fields {
		if i == 0 {
			g = jen.Add(f)
		} else {
			g = g.Op(",").Line().Add(f)
		}
	}
	return g
}
