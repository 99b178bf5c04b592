import 'reflect-metadata'
import { expect } from 'chai'
import { Type } from 'class-transformer'
import { IsInt, IsString, Max, MaxLength, Min, ValidateNested, registerDecorator } from 'class-validator'
import { InvalidMessageError } from '../../src/framework/invalid-message-error'
import { compilePayloadValidator } from '../../src/framework/payload-validator'

class Author {
  @IsString() name!: string
}
class Say {
  @IsString() @MaxLength(5) text!: string
  @IsInt() @Min(0) @Max(10) priority!: number
  @ValidateNested() @Type(() => Author) author!: Author
}

function invalid(fn: () => unknown): InvalidMessageError {
  try {
    fn()
  } catch (err) {
    expect(err).to.be.instanceOf(InvalidMessageError)
    return err as InvalidMessageError
  }
  expect.fail('expected an InvalidMessageError')
}

describe('compilePayloadValidator', () => {
  const validate = compilePayloadValidator('say', Say, Say, true)!

  it('converts valid data into an instance of the DTO', () => {
    const value = validate({ text: 'hi', priority: 3, author: { name: 'ada' } })
    expect(value).to.be.instanceOf(Say)
    expect((value as Say).author).to.be.instanceOf(Author)
  })

  it('lists each failed property with its constraints, nested ones with a dotted path', () => {
    const err = invalid(() => validate({ text: 'too long', priority: 11, author: { name: 7 } }))
    expect(err.event).to.equal('say')
    expect(err.message).to.equal('validation failed')
    expect(err.errors).to.deep.equal([
      { property: 'text', constraints: { maxLength: 'text must be shorter than or equal to 5 characters' } },
      { property: 'priority', constraints: { max: 'priority must not be greater than 10' } },
      { property: 'author.name', constraints: { isString: 'name must be a string' } },
    ])
  })

  it('refuses data that is not an object for a DTO', () => {
    for (const data of [undefined, null, 'text', 3, [1]]) {
      const err = invalid(() => validate(data))
      expect(err.errors).to.deep.equal([{ property: 'data', constraints: { isObject: 'data must be an object' } }])
    }
  })

  it('passes class-validator options through (whitelist, forbidNonWhitelisted)', () => {
    const strict = compilePayloadValidator('say', Say, Say, true, { validator: { whitelist: true, forbidNonWhitelisted: true } })!
    const err = invalid(() => strict({ text: 'hi', priority: 1, author: { name: 'a' }, admin: true }))
    expect(err.errors).to.deep.equal([{ property: 'admin', constraints: { whitelistValidation: 'property admin should not exist' } }])
  })

  it('forbids unknown values by default, also when other validator options are given: a class without validation decorators refuses every object', () => {
    class Bare {
      text!: string
    }
    for (const options of [{}, { validator: { whitelist: true } }]) {
      const err = invalid(() => compilePayloadValidator('bare', Bare, Bare, true, options)!({ text: 'hi' }))
      expect(err.errors).to.have.length(1)
      expect(err.errors[0].constraints).to.have.property('unknownValue')
    }
  })

  it('lets forbidUnknownValues: false through to class-validator', () => {
    class Bare {
      text!: string
    }
    const lax = compilePayloadValidator('bare', Bare, Bare, true, { validator: { forbidUnknownValues: false } })!
    expect(lax({ text: 'hi' })).to.be.instanceOf(Bare)
  })

  it('reports an error about the object itself on its own path, never on a property named "undefined"', () => {
    class Bare {
      text!: string
    }
    class Holder {
      @ValidateNested() @Type(() => Bare) inner!: Bare
    }
    const top = invalid(() => compilePayloadValidator('bare', Bare, Bare, true)!({ text: 'hi' }))
    expect(top.errors.map((e) => e.property)).to.deep.equal(['data'])
    const nested = invalid(() => compilePayloadValidator('holder', Holder, Holder, true)!({ inner: { text: 'hi' } }))
    expect(nested.errors.map((e) => e.property)).to.deep.equal(['inner'])
  })

  it('type-checks primitive payloads', () => {
    expect(compilePayloadValidator('n', Number, undefined, true)!(4)).to.equal(4)
    expect(invalid(() => compilePayloadValidator('n', Number, undefined, true)!('4')).errors).to.deep.equal([
      { property: 'data', constraints: { isNumber: 'data must be a number' } },
    ])
    expect(invalid(() => compilePayloadValidator('s', String, undefined, true)!(1)).errors[0].constraints).to.have.property('isString')
    expect(invalid(() => compilePayloadValidator('b', Boolean, undefined, true)!(0)).errors[0].constraints).to.have.property('isBoolean')
    expect(invalid(() => compilePayloadValidator('a', Array, undefined, true)!({})).errors[0].constraints).to.have.property('isArray')
  })

  it('compiles to nothing for untyped payloads or when validation is off without a DTO', () => {
    expect(compilePayloadValidator('x', Object, undefined, true)).to.equal(undefined)
    expect(compilePayloadValidator('x', undefined, undefined, true)).to.equal(undefined)
    expect(compilePayloadValidator('x', Number, undefined, false)).to.equal(undefined)
  })

  it('converts without validating when validation is off', () => {
    const convert = compilePayloadValidator('say', Say, Say, false)!
    const value = convert({ text: 'way too long', priority: 99 })
    expect(value).to.be.instanceOf(Say)
    expect((value as Say).text).to.equal('way too long')
  })

  it('runs async constraints when asyncValidation is on', async () => {
    class Unique {
      @IsString() name!: string
    }
    registerDecorator({
      name: 'isFree',
      target: Unique,
      propertyName: 'name',
      async: true,
      validator: { validate: async (v: unknown) => v !== 'taken', defaultMessage: () => 'name is taken' },
    })
    const check = compilePayloadValidator('claim', Unique, Unique, true, { asyncValidation: true })!
    const ok = check({ name: 'free' })
    expect(ok).to.be.instanceOf(Promise)
    expect(await ok).to.be.instanceOf(Unique)
    try {
      await check({ name: 'taken' })
      expect.fail('expected a rejection')
    } catch (err) {
      expect(err).to.be.instanceOf(InvalidMessageError)
      expect((err as InvalidMessageError).errors).to.deep.equal([{ property: 'name', constraints: { isFree: 'name is taken' } }])
    }
  })
})
